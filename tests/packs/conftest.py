"""Real-looking samples of each foreign format, shared by the format tests."""

from __future__ import annotations

import codecs
import json

import pytest

# A1111 styles.csv as A1111 writes it (BOM, CRLF) after a user edited it by hand: a quoted multi-line prompt, an
# empty negative prompt, a divider row, a blank line, a short row, an unknown extra column and a duplicate name.
A1111_CSV = codecs.BOM_UTF8 + (
    "name,prompt,negative_prompt,notes\r\n"
    '"Cinematic","cinematic still of {prompt}, 35mm, film grain","cartoon, ""anime"", painting",from reddit\r\n'
    "# Photography,,\r\n"
    '"Portrait, studio","{prompt}, studio portrait,\r\nsoft box lighting, 85mm",\r\n'
    "\r\n"
    "Watercolor,watercolor painting of {prompt}\r\n"
    "Cinematic,moody {prompt},\r\n"
    "Empty,,\r\n"
    "Ukiyo-e,\u6d6e\u4e16\u7d75 woodblock print of {prompt},photo\r\n"
).encode("utf-8")

# The pre-2023 layout: "name,text", LF line ends, no BOM, spaces after the commas.
A1111_LEGACY_CSV = b"name, text\nOld style, masterpiece of {prompt}\nNo placeholder, best quality\n"

# Fooocus sdxl_styles_fooocus.json style: missing keys mean empty.
FOOOCUS_JSON = b"""[
    {
        "name": "Fooocus Sharp",
        "prompt": "cinematic still {prompt} . emotional, harmonious, vignette, 4k epic detailed",
        "negative_prompt": "anime, cartoon, graphic, (blur, blurry, bokeh), text, painting, crayon"
    },
    {
        "name": "Fooocus Negative",
        "negative_prompt": "deformed, bad anatomy, disfigured, poorly drawn face"
    },
    {
        "name": "Fooocus Masterpiece",
        "prompt": "(masterpiece), (best quality), (ultra-detailed), {prompt}, illustration"
    }
]
"""

# InvokeAI's default_style_presets.json layout.
INVOKEAI_JSON = b"""[
  {
    "name": "Photography (General)",
    "type": "default",
    "preset_data": {
      "positive_prompt": "{prompt}. photography. f/2.8 macro photo, bokeh, photorealism",
      "negative_prompt": "painting, digital art. sketch, blurry"
    }
  },
  {
    "name": "Line Art",
    "type": "user",
    "preset_data": {
      "positive_prompt": "{prompt} Line art. bold outline. simplistic. white background. 2d"
    }
  }
]
"""

# One preset as InvokeAI's API returns it (extra keys), pretty-printed.
INVOKEAI_SINGLE = b"""{
  "name": "Anime",
  "type": "user",
  "id": "3f1c9a2e",
  "image": null,
  "preset_data": {"positive_prompt": "{prompt} anime++, bold outline", "negative_prompt": "(photo)+++"}
}
"""

# A1111 prompts_from_file input: plain prompts, option lines, and lines A1111 would choke on.
PROMPTS_TXT = (
    b"a red fox in the snow, golden hour\r\n"
    b'--prompt "a cat wearing a hat" --negative_prompt "blurry, lowres" --steps 20 --cfg_scale 7 --seed 5'
    b' --width 512 --height 768 --sampler_name "Euler a"\r\n'
    b"\r\n"
    b"   \r\n"
    b'--prompt castle on a hill --steps 30 --sampler_name "DPM++ 2M Karras" --seed -1 --n_iter 2\r\n'
    b'--prompt "unterminated quote --steps 20\r\n'
    b'--prompt "it\'s fine" --steps twenty\r\n'
    b'--prompt "portrait" --sampler_name "DPM++ SDE" --scheduler exponential --restore_faces true --hires 2\r\n'
    b"a misty lake -- dawn, it's quiet\r\n"
)

# JSON Lines with every accepted spelling plus bad lines.
JSONL_TEXT = (
    b'{"title": "Fox", "prompt": "a red fox", "negative_prompt": "blurry", "tags": ["animal", "snow"],'
    b' "params": {"steps": 20, "sampler": "dpmpp_2m", "schedule": "karras"}}\n'
    b'{"name": "Cat", "prompt": "a cat", "negative": "dog", "tags": "pet, cute , ,pet", "steps": 30,'
    b' "cfg_scale": 6.5, "sampler_name": "Euler a", "seed": 42, "hires_fix": true}\n'
    b"\n"
    b'{"prompt": "broken", \n'
    b"[1, 2, 3]\n"
    b'{"negative_prompt": "no prompt here"}\n'
    b'{"prompt": "bad steps", "params": {"steps": 0}}\n'
    b'{"prompt": "nan", "cfg_scale": NaN}\n'
    # A raw U+2028 is legal inside a JSON string: it must not split the line.
    + '{"prompt": "last one \u2028 raw separator", "favorite": true, "rating": 4}\r\n'.encode()
)

# A1111 infotext files: the .txt the web UI writes beside an image (CRLF on Windows), here three in a row as a user
# collects them: one with sd-dynamic-prompts' template lines after its parameters, one with a multi-line prompt.
A1111_INFOTEXT = (
    b"a lighthouse on a cliff, (storm:1.2), <lora:film_grain:0.6>\r\n"
    b"Negative prompt: blurry, lowres\r\n"
    b"Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 1234567, Size: 512x768, "
    b'Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Lora hashes: "film_grain: 0a1b2c3d4e5f", Version: v1.10.1\r\n'
    b"Template: a {lighthouse|windmill} on a cliff\r\n"
    b"Negative Template: blurry\r\n"
    b"\r\n"
    b"a red fox in the snow,\r\n"
    b"golden hour\r\n"
    b"Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512, Model: sdxl_base\r\n"
    b"a misty lake at dawn\r\n"
    b"Negative prompt: people\r\n"
    b"Steps: 30, Sampler: DPM++ SDE Karras, CFG scale: 5, Seed: 7, Size: 1024x1024, Clip skip: 2\r\n"
)


def _comfy_api_graph() -> dict[str, object]:
    """The default ComfyUI text-to-image graph in the API format (Export (API))."""
    return {
        "3": {"class_type": "KSampler", "inputs": {"seed": 156680208700286, "steps": 24, "cfg": 6.0,
              "sampler_name": "dpmpp_2m", "scheduler": "karras", "denoise": 1.0, "model": ["4", 0],
              "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "dreamshaper_8.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 768, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a castle in the clouds", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "watermark, text", "clip": ["4", 1]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
    }  # fmt: skip


def _comfy_workflow() -> dict[str, object]:
    """The same graph as the UI saves it: nodes with widget values, links as [id, from, slot, to, slot, type]."""

    def node(node_id: int, kind: str, values: list[object], inputs: list[tuple[str, int | None]]) -> dict[str, object]:
        return {"id": node_id, "type": kind, "mode": 0, "widgets_values": values,
                "inputs": [{"name": name, "type": "*", "link": link} for name, link in inputs]}  # fmt: skip

    return {
        "last_node_id": 9,
        "last_link_id": 9,
        "nodes": [
            node(4, "CheckpointLoaderSimple", ["dreamshaper_8.safetensors"], []),
            node(6, "CLIPTextEncode", ["a castle in the clouds"], [("clip", 3)]),
            node(7, "CLIPTextEncode", ["watermark, text"], [("clip", 5)]),
            node(5, "EmptyLatentImage", [512, 768, 1], []),
            node(3, "KSampler", [156680208700286, "randomize", 24, 6.0, "dpmpp_2m", "karras", 1.0],
                 [("model", 1), ("positive", 4), ("negative", 6), ("latent_image", 2)]),
            node(8, "VAEDecode", [], [("samples", 7), ("vae", 8)]),
            node(9, "SaveImage", ["ComfyUI"], [("images", 9)]),
        ],
        "links": [[1, 4, 0, 3, 0, "MODEL"], [2, 5, 0, 3, 3, "LATENT"], [3, 4, 1, 6, 0, "CLIP"],
                  [4, 6, 0, 3, 1, "CONDITIONING"], [5, 4, 1, 7, 0, "CLIP"], [6, 7, 0, 3, 2, "CONDITIONING"],
                  [7, 3, 0, 8, 0, "LATENT"], [8, 4, 2, 8, 1, "VAE"], [9, 8, 0, 9, 0, "IMAGE"]],
        "groups": [],
        "config": {},
        "extra": {"ds": {"scale": 1, "offset": [0, 0]}},
        "version": 0.4,
    }  # fmt: skip


COMFY_API_JSON = json.dumps(_comfy_api_graph(), indent=2).encode()
COMFY_WORKFLOW_JSON = json.dumps(_comfy_workflow(), indent=2).encode()
COMFY_REQUEST_JSON = json.dumps(  # a POST /prompt body
    {
        "client_id": "5f1c",
        "prompt": _comfy_api_graph(),
        "extra_data": {"extra_pnginfo": {"workflow": _comfy_workflow()}},
    }
).encode()

SAMPLES: dict[str, tuple[str, bytes]] = {
    "a1111_infotext": ("a1111_infotext", A1111_INFOTEXT),
    "comfy_api_json": ("comfyui_graph", COMFY_API_JSON),
    "comfy_workflow_json": ("comfyui_graph", COMFY_WORKFLOW_JSON),
    "comfy_request_json": ("comfyui_graph", COMFY_REQUEST_JSON),
    "a1111_csv": ("a1111_styles", A1111_CSV),
    "a1111_legacy_csv": ("a1111_styles", A1111_LEGACY_CSV),
    "fooocus_json": ("fooocus_styles", FOOOCUS_JSON),
    "invokeai_json": ("invokeai_presets", INVOKEAI_JSON),
    "invokeai_single": ("invokeai_presets", INVOKEAI_SINGLE),
    "prompts_txt": ("prompts_from_file", PROMPTS_TXT),
    "jsonl_text": ("jsonl", JSONL_TEXT),
}


@pytest.fixture(params=sorted(SAMPLES))
def sample(request: pytest.FixtureRequest) -> tuple[str, bytes]:
    """Each sample as (the format it is in, its bytes)."""
    return SAMPLES[request.param]


@pytest.fixture
def a1111_csv() -> bytes:
    return A1111_CSV


@pytest.fixture
def a1111_legacy_csv() -> bytes:
    return A1111_LEGACY_CSV


@pytest.fixture
def fooocus_json() -> bytes:
    return FOOOCUS_JSON


@pytest.fixture
def invokeai_json() -> bytes:
    return INVOKEAI_JSON


@pytest.fixture
def invokeai_single() -> bytes:
    return INVOKEAI_SINGLE


@pytest.fixture
def prompts_txt() -> bytes:
    return PROMPTS_TXT


@pytest.fixture
def jsonl_text() -> bytes:
    return JSONL_TEXT


@pytest.fixture
def huge() -> bytes:
    """70 MB: over the 64 MiB input limit."""
    return b"[" + b" " * (70 * 1024 * 1024) + b"]"
