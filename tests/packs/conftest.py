"""Real-looking samples of each foreign format, shared by the format tests."""

from __future__ import annotations

import codecs

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

SAMPLES: dict[str, tuple[str, bytes]] = {
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
