/* The tokenclip plugin: one element, tokenclip. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>

#include "gsttokenclip.h"

static gboolean
plugin_init (GstPlugin * plugin)
{
  return GST_ELEMENT_REGISTER (tokenclip, plugin);
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, tokenclip,
    "Anomaly heatmaps from CLIP and optimal-transport token alignment, on Vulkan",
    plugin_init, PACKAGE_VERSION, "LGPL", PACKAGE_NAME, "https://github.com/gst-tokenclip/gst-tokenclip")
