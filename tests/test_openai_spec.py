"""openai_spec checks JSON values against the installed SDK's types as strictly as OpenAI would."""

from __future__ import annotations

import copy
import time

import pytest
from openai._types import FileTypes
from openai.types import ImageGenStreamEvent, ImagesResponse
from openai.types.image_generate_params import ImageGenerateParamsStreaming
from openai.types.responses import Response, ResponseStreamEvent, response_create_params
from openai.types.shared.response_format_json_schema import JSONSchema
from openai_spec import check_request, problems

STREAMING = response_create_params.ResponseCreateParamsStreaming
NON_STREAMING = response_create_params.ResponseCreateParamsNonStreaming

TOOL = {"type": "image_generation", "model": "gpt-image-2.6-sunburst", "size": "auto", "quality": "low",
        "background": "auto", "output_format": "png", "partial_images": 2, "action": "edit"}
REQUEST = {"model": "gpt-5.5", "input": "a fox", "stream": True, "store": False, "tools": [TOOL],
           "tool_choice": {"type": "image_generation"}}
IMAGE_INPUT = [{"role": "user", "content": [{"type": "input_text", "text": "x"},
                                            {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}]}]
CALL = {"type": "image_generation_call", "id": "ig_1", "status": "completed", "result": "AAAA", "revised_prompt": "x"}
RESPONSE = {"id": "resp_1", "object": "response", "created_at": 1_700_000_000, "status": "completed",
            "model": "gpt-5.5", "output": [CALL], "tools": [TOOL], "tool_choice": {"type": "image_generation"},
            "parallel_tool_calls": True, "error": None, "incomplete_details": None, "instructions": None,
            "metadata": {}, "temperature": 1.0, "top_p": 1.0}
PARTIAL = {"type": "response.image_generation_call.partial_image", "item_id": "ig_1", "output_index": 0,
           "partial_image_b64": "AAAA", "partial_image_index": 0, "sequence_number": 3}


def changed(base: dict, change) -> dict:
    body = copy.deepcopy(base)
    change(body)
    return body


def test_valid_streaming_request_has_no_problems():
    assert problems(REQUEST, STREAMING) == []
    assert check_request(REQUEST, STREAMING) is None
    with_detail = changed(IMAGE_INPUT, lambda i: i[0]["content"][1].update(detail="auto"))
    assert problems({**REQUEST, "input": with_detail}, STREAMING) == []


@pytest.mark.parametrize(("change", "param", "wrong"), [
    (lambda b: b.update(bogus=1), "bogus", "unknown parameter"),
    (lambda b: b["tools"][0].update(bogus=1), "tools[0].bogus", "unknown parameter"),
    (lambda b: b["tools"][0].update(quality="ultra"), "tools[0].quality", "invalid value 'ultra'"),
    (lambda b: b.update(input=IMAGE_INPUT), "input[0].content[1].detail", "missing required parameter"),
    (lambda b: b["tools"][0].update(partial_images="2"), "tools[0].partial_images", "expected an integer"),
    (lambda b: b["tools"][0].update(partial_images=True), "tools[0].partial_images", "got a boolean"),
    (lambda b: b["tools"][0].pop("type"), "tools[0].type", "missing required parameter"),
    (lambda b: b["tools"][0].update(type="image_gen"), "tools[0].type", "invalid value 'image_gen'"),
    (lambda b: b.update(tool_choice={"type": "image_gen"}), "tool_choice.type", "invalid value"),
    (lambda b: b.pop("stream"), "stream", "missing required parameter"),
    (lambda b: b.update(stream=1), "stream", "invalid value 1"),  # 1 == True in Python, not in JSON
    (lambda b: b.update(max_output_tokens="9"), "max_output_tokens", "expected an integer or null"),
])
def test_each_bad_request_names_the_param(change, param, wrong):
    found = problems(changed(REQUEST, change), STREAMING)
    assert [p for p, _ in found] == [param]
    assert wrong in found[0][1]
    assert check_request(changed(REQUEST, change), STREAMING) == found[0]


def test_model_is_not_required_by_the_sdk():
    # The SDK types `model` as optional (a stored prompt can supply it), so it is not flagged.
    assert problems(changed(REQUEST, lambda b: b.pop("model")), STREAMING) == []


def test_streaming_flag_picks_the_params_type():
    assert [p for p, _ in problems(REQUEST, NON_STREAMING)] == ["stream"]
    assert problems(changed(REQUEST, lambda b: b.pop("stream")), NON_STREAMING) == []


def test_image_generation_params():
    body = {"prompt": "a fox", "model": "gpt-image-2", "stream": True, "partial_images": 1}
    assert problems(body, ImageGenerateParamsStreaming) == []
    assert [p for p, _ in problems(changed(body, lambda b: b.pop("prompt")), ImageGenerateParamsStreaming)] == [
        "prompt"]


def test_minimal_response_conforms_and_is_a_real_sdk_response():
    assert problems(RESPONSE, Response) == []
    Response.model_validate(RESPONSE)
    # Only these are required on a Response; status, error, usage... may be left out.
    required = {k: RESPONSE[k] for k in ("id", "object", "created_at", "model", "output", "tools",
                                          "tool_choice", "parallel_tool_calls")}
    assert problems(required, Response) == []
    assert [p for p, _ in problems(changed(required, lambda r: r.pop("tools")), Response)] == ["tools"]


def test_bad_response_names_the_field():
    done = changed(RESPONSE, lambda r: r["output"][0].update(status="done"))
    assert [p for p, _ in problems(done, Response)] == ["output[0].status"]
    event = {"type": "response.completed", "sequence_number": 9, "response": done}
    assert [p for p, _ in problems(event, ResponseStreamEvent)] == ["response.output[0].status"]
    assert [p for p, _ in problems(changed(RESPONSE, lambda r: r.update(made_up=1)), Response)] == ["made_up"]


def test_stream_events():
    assert problems(PARTIAL, ResponseStreamEvent) == []
    assert problems({"type": "response.output_item.done", "sequence_number": 4, "output_index": 0, "item": CALL},
                    ResponseStreamEvent) == []
    assert [p for p, _ in problems({**PARTIAL, "made_up": 1}, ResponseStreamEvent)] == ["made_up"]
    assert [p for p, _ in problems({**PARTIAL, "type": "response.nope"}, ResponseStreamEvent)] == ["type"]
    assert [p for p, _ in problems({k: v for k, v in PARTIAL.items() if k != "item_id"}, ResponseStreamEvent)] == [
        "item_id"]


def test_images_api_answers():
    assert problems({"created": 1, "data": [{"b64_json": "AAAA"}]}, ImagesResponse) == []
    assert [p for p, _ in problems({"created": 1.5}, ImagesResponse)] == ["created"]
    partial = {"type": "image_generation.partial_image", "b64_json": "AAAA", "background": "auto",
               "created_at": 1, "output_format": "png", "partial_image_index": 0, "quality": "low", "size": "auto"}
    assert problems(partial, ImageGenStreamEvent) == []
    assert [p for p, _ in problems({**partial, "output_format": "gif"}, ImageGenStreamEvent)] == ["output_format"]


def test_scalars_are_json_strict():
    assert problems(1, float) == []  # JSON has one number type
    assert problems(True, int) and problems(True, float) and problems(1, bool)
    assert problems(None, str) and problems("x", None) == [("", "expected null, but got a string")]


def test_model_aliases_are_the_wire_keys():
    assert problems({"name": "x", "schema": {"type": "object"}}, JSONSchema) == []
    assert [p for p, _ in problems({"name": "x", "schema_": {}}, JSONSchema)] == ["schema_"]


def test_unknown_types_are_accepted_loosely():
    assert problems(b"raw bytes", FileTypes) == []
    assert problems({"anything": [1, None]}, object) == []


def test_checking_a_stream_event_is_fast():
    problems(PARTIAL, ResponseStreamEvent)  # warm the per-type caches
    runs = 200
    start = time.perf_counter()
    for _ in range(runs):
        assert problems(PARTIAL, ResponseStreamEvent) == []
    assert (time.perf_counter() - start) / runs < 0.005
