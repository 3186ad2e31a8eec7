/* Compute pipelines from the embedded SPIR-V, created once per
 * (shader, bindings, push size, specialization constants) and cached. */
#include <stdlib.h>
#include <string.h>

#include "tc_shaders.h"
#include "tc_vk_internal.h"

static const tc_shader_blob *find_shader(const char *name)
{
  for (const tc_shader_blob *b = tc_shader_table; b->name; b++)
    if (strcmp(b->name, name) == 0)
      return b;
  return NULL;
}

static bool same_desc(const tc_kernel *k, const tc_kernel_desc *d)
{
  return strcmp(k->shader, d->shader) == 0 && k->desc.n_bindings == d->n_bindings &&
         k->desc.push_size == d->push_size && k->desc.n_spec == d->n_spec &&
         memcmp(k->desc.bindings, d->bindings, d->n_bindings * sizeof d->bindings[0]) == 0 &&
         memcmp(k->desc.spec, d->spec, d->n_spec * sizeof d->spec[0]) == 0;
}

VkDescriptorType tc_descriptor_type(tc_binding b)
{
  if (b == TC_BIND_STORAGE)
    return VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
  return b >= TC_BIND_IMAGE_F32 ? VK_DESCRIPTOR_TYPE_STORAGE_TEXEL_BUFFER : VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER;
}

static tc_status create_kernel(tc_context *ctx, const tc_kernel_desc *desc, const tc_shader_blob *blob,
                               tc_kernel *k, tc_error *err)
{
  VkDevice dev = ctx->device;
  VkDescriptorSetLayoutBinding b[TC_MAX_BINDINGS];
  for (uint32_t i = 0; i < desc->n_bindings; i++)
    b[i] = (VkDescriptorSetLayoutBinding){
      .binding = i,
      .descriptorType = tc_descriptor_type(desc->bindings[i]),
      .descriptorCount = 1,
      .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
    };
  VkDescriptorSetLayoutCreateInfo set_info = {
    .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
    .bindingCount = desc->n_bindings,
    .pBindings = b,
  };
  tc_status st = tc_vk_check(vkCreateDescriptorSetLayout(dev, &set_info, NULL, &k->set_layout),
                             "vkCreateDescriptorSetLayout", err);
  if (st != TC_OK)
    return st;

  VkPushConstantRange push = { .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .size = desc->push_size };
  VkPipelineLayoutCreateInfo layout_info = {
    .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
    .setLayoutCount = 1,
    .pSetLayouts = &k->set_layout,
    .pushConstantRangeCount = desc->push_size ? 1 : 0,
    .pPushConstantRanges = &push,
  };
  st = tc_vk_check(vkCreatePipelineLayout(dev, &layout_info, NULL, &k->layout), "vkCreatePipelineLayout", err);
  if (st != TC_OK)
    return st;

  VkShaderModuleCreateInfo mod_info = {
    .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
    .codeSize = blob->size,
    .pCode = blob->code,
  };
  VkShaderModule module;
  st = tc_vk_check(vkCreateShaderModule(dev, &mod_info, NULL, &module), "vkCreateShaderModule", err);
  if (st != TC_OK)
    return st;

  VkSpecializationMapEntry entries[TC_MAX_SPEC];
  for (uint32_t i = 0; i < desc->n_spec; i++)
    entries[i] = (VkSpecializationMapEntry){ .constantID = i, .offset = 4 * i, .size = 4 };
  VkSpecializationInfo spec = {
    .mapEntryCount = desc->n_spec,
    .pMapEntries = entries,
    .dataSize = 4 * desc->n_spec,
    .pData = desc->spec,
  };
  VkComputePipelineCreateInfo info = {
    .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
    .stage = {
      .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
      .stage = VK_SHADER_STAGE_COMPUTE_BIT,
      .module = module,
      .pName = "main",
      .pSpecializationInfo = desc->n_spec ? &spec : NULL,
    },
    .layout = k->layout,
  };
  st = tc_vk_check(vkCreateComputePipelines(dev, ctx->pipeline_cache, 1, &info, NULL, &k->pipeline),
                   "vkCreateComputePipelines", err);
  vkDestroyShaderModule(dev, module, NULL);
  return st;
}

tc_status tc_kernel_get(tc_context *ctx, const tc_kernel_desc *desc, tc_kernel **out, tc_error *err)
{
  *out = NULL;
  if (desc->n_bindings > TC_MAX_BINDINGS || desc->n_spec > TC_MAX_SPEC || desc->push_size > 128 ||
      desc->push_size % 4 != 0)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "kernel %s: bad descriptor (bindings %u, spec %u, push %u)",
                        desc->shader, desc->n_bindings, desc->n_spec, desc->push_size);
  const tc_shader_blob *blob = find_shader(desc->shader);
  if (!blob || strlen(desc->shader) >= sizeof((tc_kernel *)0)->shader)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "no embedded shader named \"%s\"", desc->shader);

  pthread_mutex_lock(&ctx->lock);
  tc_kernel *k = ctx->kernels;
  while (k && !same_desc(k, desc))
    k = k->next;
  tc_status st = TC_OK;
  if (!k) {
    k = calloc(1, sizeof *k);
    if (!k) {
      st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
    } else {
      k->desc = *desc;
      strcpy(k->shader, desc->shader);
      k->desc.shader = k->shader;
      st = create_kernel(ctx, desc, blob, k, err);
      if (st == TC_OK) {
        k->next = ctx->kernels;
        ctx->kernels = k;
      } else {
        tc_error_prefix(err, "creating kernel %s", desc->shader);
        vkDestroyPipeline(ctx->device, k->pipeline, NULL);
        vkDestroyPipelineLayout(ctx->device, k->layout, NULL);
        vkDestroyDescriptorSetLayout(ctx->device, k->set_layout, NULL);
        free(k);
        k = NULL;
      }
    }
  }
  pthread_mutex_unlock(&ctx->lock);
  *out = k;
  return st;
}
