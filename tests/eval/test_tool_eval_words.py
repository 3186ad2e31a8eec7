"""tokenclip-eval and tokenclip-infer with subspaces from words (--object,
--objects-from-categories, --prompts, --vocab) on a tiny random CLIP with
both towers and CLIP's real vocabulary (text_fixtures.py --config tiny-vocab
--with-vision, as tests/meson.build's text_e2e_model):

- --objects-from-categories gives exactly the numbers (every metric and every
  image's score) of --heads-dir holding the heads that tokenclip-prompts
  --object "<category words>" writes, a category named metal_nut prompting
  "metal nut"; the JSON names each category's object;
- --object NAME (one object for every category) gives those of --head with
  NAME's head file, and tokenclip-infer --object the score of --head;
- errors: words on a vision-only model name the missing text tower; two
  sources of subspaces at once, none, and --prompts without words.

Two templates (--prompts) keep the text encoder short.

usage: test_tool_eval_words.py TOKENCLIP_EVAL TOKENCLIP_INFER TOKENCLIP_PROMPTS TEXT_MODEL.safetensors
                               VISION_ONLY_MODEL.safetensors VOCAB"""
import json
import os
import sys
import tempfile

import eval_fixtures
from tc_testutil import check, finish, run

SIZE = 64
METRICS = ("image_auroc", "image_ap", "pixel_auroc", "aupro", "pixel_ap", "aupro_anomalyclip", "normal", "anomalous")


def same_numbers(a, b):
    """Every metric and every image's score equal (not close: the same subspaces)."""
    if list(a["categories"]) != list(b["categories"]):
        return False
    for name, ca in a["categories"].items():
        cb = b["categories"][name]
        if any(ca[k] != cb[k] for k in METRICS) or \
                [(x["image"], x["score"]) for x in ca["samples"]] != [(x["image"], x["score"]) for x in cb["samples"]]:
            return False
    return a["mean"] == b["mean"]


def eval_json(tool, path, *args):
    r = run(tool, *args, "--json", path)
    return r, json.load(open(path)) if r.returncode == 0 else None


def checks(tool, infer, prompts, model, vision_only, vocab, tmp):
    eval_fixtures.write_dataset(os.path.join(tmp, "ds"), size=SIZE)
    data = os.path.join(tmp, "ds", "mvtec")
    os.rename(os.path.join(data, "widget"), os.path.join(data, "metal_nut"))
    templates = os.path.join(tmp, "templates.txt")
    open(templates, "w").write("a photo of a {}.\nthere is a {} in the scene.\n")
    heads = os.path.join(tmp, "heads")
    os.makedirs(heads)
    for cat, words in (("metal_nut", "metal nut"), ("twins", "twins")):
        r = run(prompts, "--model", model, "--object", words, "--prompts", templates,
                "--output", os.path.join(heads, cat + ".safetensors"))
        check(f"tokenclip-prompts --object \"{words}\"", r.returncode == 0, r.stderr)
        if r.returncode != 0:
            return
    common = ["--model", model, "--input-size", SIZE, "--sigma", 2, "--data", data]

    # --objects-from-categories = --heads-dir of tokenclip-prompts' heads
    ra, a = eval_json(tool, os.path.join(tmp, "a.json"), *common, "--objects-from-categories",
                      "--prompts", templates, "--vocab", vocab)
    check("--objects-from-categories: runs", ra.returncode == 0, ra.stderr)
    check("the validation layer (TOKENCLIP_VALIDATE=1) said nothing", "Vulkan validation" not in ra.stderr, ra.stderr)
    rb, b = eval_json(tool, os.path.join(tmp, "b.json"), *common, "--heads-dir", heads)
    check("--heads-dir: runs", rb.returncode == 0, rb.stderr)
    if a and b:
        check("--objects-from-categories: the numbers of --heads-dir with tokenclip-prompts' heads",
              same_numbers(a, b), (a["categories"], b["categories"]))
        check("--objects-from-categories: the table is the same", ra.stdout.splitlines()[:4] == rb.stdout.splitlines()[:4],
              (ra.stdout, rb.stdout))
        check("JSON: metal_nut prompted as \"metal nut\", the source and templates named",
              a["categories"]["metal_nut"].get("object") == "metal nut" and a["categories"]["twins"].get("object") ==
              "twins" and a["subspaces"] == "objects-from-categories" and a["prompts"] == templates and
              b["categories"]["twins"].get("head") == os.path.join(heads, "twins.safetensors"), a)
        check("the two categories' numbers differ (the objects matter)",
              a["categories"]["metal_nut"]["pixel_auroc"] != a["categories"]["twins"]["pixel_auroc"], a["categories"])

    # --object: one object for every category = --head of its head file
    nut = os.path.join(heads, "metal_nut.safetensors")
    rc, c = eval_json(tool, os.path.join(tmp, "c.json"), *common, "--object", "metal nut", "--prompts", templates,
                      "--limit", 4)
    rd, d = eval_json(tool, os.path.join(tmp, "d.json"), *common, "--head", nut, "--limit", 4)
    check("--object and --head: run", rc.returncode == 0 and rd.returncode == 0, rc.stderr + rd.stderr)
    if c and d:
        check("--object \"metal nut\" on both categories: the numbers of --head with its head file",
              same_numbers(c, d) and c["object"] == "metal nut" and
              {x["object"] for x in c["categories"].values()} == {"metal nut"}, (c, d))

    # tokenclip-infer --object = --head
    img = os.path.join(data, "metal_nut", "test", "good", "000.png")
    ri = run(infer, "--model", model, "--object", "metal nut", "--prompts", templates, "--image", img,
             "--input-size", SIZE)
    rh = run(infer, "--model", model, "--head", nut, "--image", img, "--input-size", SIZE)
    ok = ri.returncode == 0 and rh.returncode == 0
    if ok:
        oi, oh = json.loads(ri.stdout), json.loads(rh.stdout)
        ok = oi["object"] == "metal nut" and all(oi[k] == oh[k] for k in ("image_score", "global_score", "map_max"))
    check("tokenclip-infer --object: the score of --head with its head file", ok, ri.stdout + ri.stderr + rh.stderr)

    # errors
    eval_cases = [
        ("words on a vision-only model: the missing text tower", ["--model", vision_only, "--data", data,
                                                                  "--objects-from-categories"], 1, "no CLIP text tower"),
        ("--head and --object", [*common, "--head", nut, "--object", "nut"], 2, "two sources of subspaces"),
        ("--heads-dir and --objects-from-categories", [*common, "--heads-dir", heads, "--objects-from-categories"], 2,
         "--heads-dir and --objects-from-categories are two sources"),
        ("no source of subspaces", common, 2, "--objects-from-categories) are required"),
        ("--prompts without words", [*common, "--head", nut, "--prompts", templates], 2, "--prompts and --vocab go with"),
        ("a missing templates file", [*common, "--object", "nut", "--prompts", os.path.join(tmp, "none.txt")], 1,
         "none.txt"),
    ]
    for what, args, rc_want, text in eval_cases:
        r = run(tool, "--input-size", SIZE, *args)
        check(f"eval error: {what}", r.returncode == rc_want and text in r.stderr,
              f"rc {r.returncode}: {r.stderr.strip()[:300]}")
    infer_cases = [
        ("--object on a vision-only model: the missing text tower", ["--model", vision_only, "--object", "nut"], 1,
         "no CLIP text tower"),
        ("--head and --object", ["--model", model, "--head", nut, "--object", "nut"], 2, "two sources of subspaces"),
        ("an empty object", ["--model", model, "--object", ""], 2, "--object takes a name"),
    ]
    for what, args, rc_want, text in infer_cases:
        r = run(infer, *args, "--image", img, "--input-size", SIZE)
        check(f"infer error: {what}", r.returncode == rc_want and text in r.stderr,
              f"rc {r.returncode}: {r.stderr.strip()[:300]}")
    for t in (tool, infer):
        r = run(t, "--help")
        check(f"{os.path.basename(t)} --help: --object, --prompts, --vocab", r.returncode == 0 and
              all(x in r.stdout for x in ("--object NAME", "--prompts F", "--vocab V")), r.stdout)
    r = run(tool, "--help")
    check("tokenclip-eval --help: --objects-from-categories, underscores as spaces",
          "--objects-from-categories" in r.stdout and "metal_nut -> \"metal nut\"" in r.stdout, r.stdout)


def main():
    with tempfile.TemporaryDirectory(prefix="tc-test-words-") as tmp:
        checks(*sys.argv[1:7], tmp)
    finish()


if __name__ == "__main__":
    main()
