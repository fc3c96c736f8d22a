"""Draw Things: XMP with a JSON exif:UserComment (and an A1111-like dc:description)."""

from __future__ import annotations

import html
import json

import pytest

from promptlib.errors import FormatError
from promptlib.metadata.chunks import ImageChunks, xmp_value
from promptlib.metadata.drawthings import parse_drawthings, read

CONFIG = {
    "c": "a koi pond, <watercolor> & ink",
    "uc": "text, watermark",
    "seed": 2718,
    "steps": 30,
    "scale": 5.5,
    "sampler": "DPM++ 2M Karras",
    "size": "768x1024",
    "model": "sd_xl_base_1.0_f16.ckpt",
    "strength": 1,
    "lora": [{"file": "add_detail_lora_f16.ckpt", "weight": 0.6}],
    "v2": {"clipSkip": 2, "guidanceScale": 5.5},
}


def xmp(comment: str, description: str = "a koi pond\nSteps: 30") -> str:
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:exif="http://ns.adobe.com/exif/1.0/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/">'
        f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{html.escape(description)}</rdf:li></rdf:Alt>'
        "</dc:description>"
        f'<exif:UserComment><rdf:Alt><rdf:li xml:lang="x-default">{html.escape(comment)}</rdf:li></rdf:Alt>'
        "</exif:UserComment><xmp:CreatorTool>Draw Things</xmp:CreatorTool></rdf:Description></rdf:RDF></x:xmpmeta>"
    )


def test_xmp_json() -> None:
    packet = xmp(json.dumps(CONFIG))
    (recipe,) = read(ImageChunks("d.png", "PNG", 1, 1, xmp=packet))
    assert recipe.generator == "drawthings"
    assert (recipe.prompt, recipe.negative_prompt) == ("a koi pond, <watercolor> & ink", "text, watermark")
    assert (recipe.seed, recipe.steps, recipe.cfg_scale, recipe.width, recipe.height) == (2718, 30, 5.5, 768, 1024)
    assert (recipe.sampler, recipe.schedule, recipe.clip_skip) == ("DPM++ 2M", "karras", 2)
    assert recipe.model == "sd_xl_base_1.0_f16"
    assert [(lora.name, lora.weight) for lora in recipe.loras] == [("add_detail_lora_f16", 0.6)]
    assert recipe.raw == json.dumps(CONFIG)
    assert recipe.extra["strength"] == 1


def test_description_fallback_and_plain_json() -> None:
    recipe = parse_drawthings(xmp("not json", "a cat\nNegative prompt: dog\nSteps: 20, Seed: 1, Sampler: Euler A"))
    assert (recipe.prompt, recipe.negative_prompt, recipe.sampler) == ("a cat", "dog", "Euler a")
    assert parse_drawthings(json.dumps(CONFIG)).seed == 2718
    (from_exif,) = read(ImageChunks("d.jpg", "JPEG", 1, 1, exif={"UserComment": json.dumps(CONFIG)}))
    assert from_exif.steps == 30


def test_xmp_value_forms() -> None:
    assert xmp_value('<a:b x="1"/><rdf:Description exif:UserComment="a &amp; b"/>', "exif:UserComment") == "a & b"
    assert xmp_value("<exif:UserCommentary>no</exif:UserCommentary>", "exif:UserComment") is None
    assert xmp_value("<exif:UserComment><![CDATA[<raw>]]></exif:UserComment>", "exif:UserComment") == "<raw>"
    assert xmp_value("<exif:UserComment>plain &#xA;text", "exif:UserComment") == "plain \ntext"


def test_unclaimed_and_bad() -> None:
    assert read(ImageChunks("x.png", "PNG", 1, 1, xmp="<x:xmpmeta/>")) == []
    with pytest.raises(FormatError):
        parse_drawthings("<x:xmpmeta>Draw Things</x:xmpmeta>")
    with pytest.raises(FormatError):
        parse_drawthings("")
