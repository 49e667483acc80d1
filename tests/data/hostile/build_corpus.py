"""Writes `corpus.jsonl`, the hostile-input corpus (issue 8). Run it after editing a case.

    python tests/data/hostile/build_corpus.py

Each line is one Kafka message of the events topic, sent in file order:
`case` (name), `key` / `value` (base64 of the raw bytes; null = no key / tombstone),
`partition` ("wrong": sent to a partition its key does not hash to; absent: the default
partitioner), `expect` and `why`.

`expect` is `dead_letter:<reason>` (the `dlq.reason` header; the letter carries the original
bytes), `applied` (counted in the user's state) or `duplicate` (recognised and not counted).
Keys starting with `hostile-bad` are never applied: no state may exist for them.
All event times are fixed (November 2023), within the worker's accepted range for decades.
"""

from __future__ import annotations

import base64
import json
import unicodedata
from pathlib import Path

TS = 1_700_000_000
BAD = "hostile-bad"
Line = dict[str, object]


def b64(raw: bytes | None) -> str | None:
    return None if raw is None else base64.b64encode(raw).decode()


def event(user: object = BAD, **fields: object) -> dict[str, object]:
    body: dict[str, object] = {"user_id": user, "ts": TS, "type": "view", "item_id": "i1"}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def js(body: object) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


def raw(text: str) -> bytes:
    """A hand-written payload (repeated names, literals json.dumps would not write)."""
    return text.encode()


def line(case: str, key: bytes | str | None, value: bytes | None, expect: str, why: str) -> Line:
    key_bytes = key.encode() if isinstance(key, str) else key
    return {"case": case, "key": b64(key_bytes), "value": b64(value), "expect": expect, "why": why}


def dead(case: str, value: bytes | None, reason: str, why: str, key: bytes | str = BAD) -> Line:
    return line(case, key, value, f"dead_letter:{reason}", why)


def applied(case: str, user: str, why: str, expect: str = "applied", **fields: object) -> Line:
    return line(case, user, js(event(user, **fields)), expect, why)


def framing() -> list[Line]:
    base = js(event())
    return [
        dead(
            "repeated_name_smuggles_user",
            raw(
                f'{{"user_id":"hostile-victim","ts":{TS},"type":"view","item_id":"i1","user_id":"{BAD}"}}'
            ),
            "invalid_json",
            "a repeated name is ambiguous (parsers disagree on which wins): refused, never 'last one wins'",
        ),
        dead(
            "repeated_equal_names",
            raw(f'{{"user_id":"{BAD}","ts":{TS},"type":"view","item_id":"i1","item_id":"i1"}}'),
            "invalid_json",
            "repeated names are refused even when the values agree",
        ),
        dead(
            "recursion_bomb_array",
            raw(
                f'{{"user_id":"{BAD}","ts":{TS},"type":"view","item_id":"i1","x":'
                + "[" * 5_000
                + "]" * 5_000
                + "}"
            ),
            "invalid_json",
            "nesting deeper than the parser's recursion limit (was a RecursionError → processing_error)",
        ),
        dead(
            "recursion_bomb_object",
            raw('{"a":' * 3_000 + "1" + "}" * 3_000),
            "invalid_json",
            "deeply nested objects, same limit",
        ),
        dead(
            "utf8_bom_prefix",
            b"\xef\xbb\xbf" + base,
            "invalid_json",
            "RFC 8259: senders must not add a BOM; refused with a 'BOM' detail",
        ),
        dead(
            "empty_value",
            b"",
            "invalid_json",
            "zero bytes is not JSON (a null value is the skeleton's tombstone case)",
        ),
        dead("whitespace_only", b" \n\t ", "invalid_json", "no JSON value"),
        dead("trailing_garbage", base + b" x", "invalid_json", "extra data after the object"),
        dead(
            "two_objects",
            base + base,
            "invalid_json",
            "two events in one message (producer batching bug)",
        ),
        dead(
            "double_encoded_json",
            js(base.decode()),
            "not_an_object",
            "the event serialised twice: a JSON string",
        ),
        dead("json_null", b"null", "not_an_object", "the JSON literal null"),
        dead("json_number", b"42", "not_an_object", "a bare number"),
        dead("empty_object", b"{}", "missing_field", "an object without fields"),
        dead(
            "overlong_utf8",
            raw(f'{{"user_id":"{BAD}","ts":{TS},"type":"view","item_id":"') + b'\xc0\xaf"}',
            "not_utf8",
            "overlong encoding of '/' (a classic filter bypass)",
        ),
        dead(
            "cesu8_surrogate_bytes",
            raw(f'{{"user_id":"{BAD}","ts":{TS},"type":"view","item_id":"') + b'\xed\xa0\x80"}',
            "not_utf8",
            "a surrogate encoded as UTF-8 bytes (CESU-8) is not UTF-8",
        ),
        dead(
            "value_one_byte_over_limit",
            padded(65_537),
            "payload_too_large",
            "DECAY_MAX_EVENT_BYTES is 65,536: one byte more is refused before parsing",
        ),
    ]


def padded(size: int, user: str = BAD) -> bytes:
    """A valid event padded with an unknown field to exactly `size` bytes."""
    body = event(user, pad="")
    short = len(js(body))
    body["pad"] = "p" * (size - short)
    out = js(body)
    assert len(out) == size
    return out


def identifiers() -> list[Line]:
    return [
        dead(
            "user_id_257_chars",
            js(event("u" * 257)),
            "invalid_value",
            "ids are at most 256 characters",
            key="u" * 257,
        ),
        dead(
            "user_id_whitespace_only",
            js(event("   ")),
            "invalid_value",
            "an id of blanks is empty",
            key="   ",
        ),
        dead(
            "user_id_nul",
            js(event("hostile-bad\x00")),
            "invalid_value",
            "C0 control characters",
            key="hostile-bad\x00",
        ),
        dead(
            "user_id_c1_nel",
            js(event("hostile-bad\u0085")),
            "invalid_value",
            "C1 control U+0085 (NEL, a line break to some log tools); was accepted",
            key="hostile-bad\u0085",
        ),
        dead(
            "user_id_del",
            js(event("hostile-bad\x7f")),
            "invalid_value",
            "DEL is a control character; was accepted",
            key="hostile-bad\x7f",
        ),
        dead(
            "user_id_lone_surrogate",
            raw(f'{{"user_id":"\\ud800","ts":{TS},"type":"view","item_id":"i1"}}'),
            "invalid_value",
            "a lone surrogate escape cannot be UTF-8 encoded (was a UnicodeEncodeError → processing_error)",
        ),
        dead(
            "user_id_float",
            js(event(42.0)),
            "wrong_type",
            "ids are strings or integers; 42.0 is neither",
            key="42.0",
        ),
        dead(
            "user_id_null",
            raw(f'{{"user_id":null,"ts":{TS},"type":"view","item_id":"i1"}}'),
            "missing_field",
            "null counts as absent",
        ),
        dead(
            "item_id_257_chars",
            js(event(item_id="i" * 257)),
            "invalid_value",
            "long item ids would grow the stored ring",
        ),
        dead(
            "category_id_10k_chars",
            js(event(category_id="c" * 10_000)),
            "invalid_value",
            "same limit for categories",
        ),
        dead(
            "event_id_257_chars",
            js(event(event_id="e" * 257)),
            "invalid_value",
            "same limit for event ids",
        ),
        dead(
            "event_id_empty",
            js(event(event_id="")),
            "invalid_value",
            "an empty event id cannot de-duplicate anything",
        ),
        dead(
            "item_id_lone_surrogate",
            raw(f'{{"user_id":"{BAD}","ts":{TS},"type":"view","item_id":"\\udfff"}}'),
            "invalid_value",
            "lone surrogate in an item id (was accepted and stored)",
        ),
        dead(
            "category_id_lone_surrogate",
            raw(
                f'{{"user_id":"{BAD}","ts":{TS},"type":"view","item_id":"i1","category_id":"a\\ud83d"}}'
            ),
            "invalid_value",
            "half an emoji (was a UnicodeEncodeError in category hashing → processing_error)",
        ),
        dead(
            "item_id_object",
            js(event(item_id={"id": "i1"})),
            "wrong_type",
            "an object where an id is expected",
        ),
        dead(
            "key_nfc_payload_nfd",
            js(event(unicodedata.normalize("NFD", "hostile-bad-café"))),
            "key_mismatch",
            "ids are compared byte for byte; no Unicode normalisation (it would move the user to another partition)",
            key=unicodedata.normalize("NFC", "hostile-bad-café"),
        ),
        dead(
            "key_trailing_nul",
            js(event()),
            "key_mismatch",
            "key and user_id differ by one NUL byte",
            key=BAD.encode() + b"\x00",
        ),
        dead(
            "key_not_utf8", js(event()), "key_mismatch", "a key that is not UTF-8", key=b"\xff\xfe"
        ),
        dead(
            "key_zero_padded_integer",
            js(event(42)),
            "key_mismatch",
            "user_id 42 is keyed '42', not '0042'",
            key="0042",
        ),
        line(
            "wrong_partition",
            BAD,
            js(event()),
            "dead_letter:wrong_partition",
            "sent to a partition its key does not hash to (custom partitioner)",
        )
        | {"partition": "wrong"},
    ]


def numbers_and_times() -> list[Line]:
    def num(field: str, literal: str) -> bytes:
        body = js(event(**{field: 0}))
        return body.replace(f'"{field}": 0'.encode(), f'"{field}": {literal}'.encode())

    return [
        dead("price_true", js(event(price=True)), "wrong_type", "a boolean is not a number"),
        dead("price_nan_string", js(event(price="NaN")), "wrong_type", "a string is not a number"),
        dead("price_1e309", num("price", "1e309"), "invalid_value", "overflows to infinity"),
        dead(
            "price_400_digit_integer",
            num("price", "1" + "0" * 400),
            "invalid_value",
            "an integer too large for a float (was an OverflowError → processing_error)",
        ),
        dead(
            "price_above_cap",
            js(event(price=1e13)),
            "invalid_value",
            "prices above 1e12 are refused: a million of them summed must stay finite",
        ),
        dead("ts_infinity_literal", num("ts", "Infinity"), "invalid_json", "Infinity is not JSON"),
        dead("ts_1e309", num("ts", "1e309"), "ts_out_of_range", "overflows to infinity"),
        dead("ts_2_pow_64", js(event(ts=2**64)), "ts_out_of_range", "an integer beyond int64"),
        dead(
            "ts_400_digit_integer",
            num("ts", "1" + "0" * 400),
            "ts_out_of_range",
            "too large for a float (was an OverflowError → processing_error)",
        ),
        dead(
            "ts_5000_digit_integer",
            num("ts", "1" * 5000),
            "invalid_json",
            "Python refuses integers over 4,300 digits while parsing (CPU-exhaustion guard)",
        ),
        dead(
            "ts_numeric_string",
            js(event(ts=str(TS))),
            "invalid_value",
            "a string ts must be ISO-8601",
        ),
        dead(
            "ts_iso_without_offset",
            js(event(ts="2023-11-14T22:13:20")),
            "invalid_value",
            "a naive time is ambiguous",
        ),
        dead(
            "ts_iso_year_9999",
            js(event(ts="9999-12-31T23:59:59+00:00")),
            "ts_out_of_range",
            "far future",
        ),
        dead(
            "ts_object",
            js(event(ts={"seconds": TS})),
            "wrong_type",
            "an object where a time is expected",
        ),
        dead(
            "type_uppercase",
            js(event(type="VIEW")),
            "invalid_value",
            "types are lowercase; the detail says so",
        ),
        dead("type_trailing_space", js(event(type="view ")), "invalid_value", "no trimming"),
        dead(
            "type_list", js(event(type=["view"])), "wrong_type", "a list where a string is expected"
        ),
    ]


def accepted() -> list[Line]:
    ooo, dup, redo, redo_id = (
        "hostile-ooo",
        "hostile-dup",
        "hostile-redelivery",
        "hostile-redelivery-id",
    )
    redelivered = js(event(redo))
    redelivered_id = js(event(redo_id, event_id="r1"))
    escaped_user = "hostile-esc"
    return [
        applied("user_id_256_chars", "u" * 256, "exactly at the 256-character limit"),
        applied(
            "user_id_256_astral_chars",
            "\U0001f600" * 256,
            "256 emoji = 1 KiB of UTF-8: the limit counts characters",
        ),
        applied("user_id_nfc", unicodedata.normalize("NFC", "hostile-café"), "NFC form: one user"),
        applied(
            "user_id_nfd",
            unicodedata.normalize("NFD", "hostile-café"),
            "NFD form of the same text: another user (ids are opaque bytes)",
        ),
        applied(
            "user_id_rtl",
            "hostile-\u05e9\u05dc\u05d5\u05dd-\u0645\u0631\u062d\u0628\u0627",
            "right-to-left scripts",
        ),
        applied(
            "user_id_zero_width",
            "hostile-a\u200bb\ufeff",
            "zero-width space and a mid-string U+FEFF are not control characters",
        ),
        applied(
            "user_id_bidi_override",
            "hostile-\u202eevil",
            "U+202E is kept as is; raw ids never reach the logs",
        ),
        applied(
            "user_id_zwj_emoji",
            "hostile-\U0001f468\u200d\U0001f469\u200d\U0001f467",
            "emoji joined with ZWJ",
        ),
        applied(
            "user_id_integer_beyond_int64",
            str(2**70),
            "integer ids of any size become their decimal string",
            user_id=2**70,
        ),
        line(
            "user_id_json_escapes",
            escaped_user,
            raw(f'{{"user_id":"\\u0068ostile-\\u0065sc","ts":{TS},"type":"view","item_id":"i1"}}'),
            "applied",
            "escapes are decoded before the key check",
        ),
        line(
            "surrogate_pair_escapes",
            "hostile-\U0001f600",
            raw(f'{{"user_id":"hostile-\\ud83d\\ude00","ts":{TS},"type":"view","item_id":"i1"}}'),
            "applied",
            "a valid surrogate pair is one character",
        ),
        line(
            "value_exactly_at_limit",
            "hostile-at-limit",
            padded(65_536, "hostile-at-limit"),
            "applied",
            "65,536 bytes with an unknown padding field",
        ),
        applied(
            "unknown_fields_nested",
            "hostile-unknown",
            "unknown fields, nested, are ignored",
            extra={"a": [1, {"b": None}], "c": "x" * 1000},
        ),
        line(
            "whitespace_around_json",
            "hostile-ws",
            b"\n  " + js(event("hostile-ws")) + b"  \n",
            "applied",
            "insignificant whitespace",
        ),
        applied("ts_iso_z", "hostile-iso", "ISO-8601 with Z", ts="2023-11-14T22:13:20Z"),
        applied("price_zero", "hostile-price", "price 0 is fine", type="purchase", price=0),
        applied(
            "price_at_cap", "hostile-price", "exactly 1e12 is accepted", type="purchase", price=1e12
        ),
        applied(
            "category_id_integer",
            "hostile-cat",
            "integer category ids become strings",
            category_id=1234,
        ),
        applied("out_of_order_1", ooo, "latest event first", ts=TS + 300),
        applied(
            "out_of_order_2",
            ooo,
            "an older event is still counted; last_event_seconds stays the max",
            ts=TS + 100,
        ),
        applied("out_of_order_3", ooo, "in between", ts=TS + 200),
        applied("duplicate_event_id_1", dup, "first e1", event_id="e1"),
        applied("duplicate_event_id_2", dup, "e2", event_id="e2", ts=TS + 1),
        applied(
            "duplicate_event_id_3",
            dup,
            "e1 again, different payload: skipped (id among the recent ring)",
            expect="duplicate",
            event_id="e1",
            ts=TS + 2,
        ),
        line("exact_redelivery_no_id_1", redo, redelivered, "applied", "first copy"),
        line(
            "exact_redelivery_no_id_2",
            redo,
            redelivered,
            "applied",
            "a new offset and no event_id: indistinguishable from a second real event; counted (send event_id)",
        ),
        line("exact_redelivery_with_id_1", redo_id, redelivered_id, "applied", "first copy"),
        line(
            "exact_redelivery_with_id_2",
            redo_id,
            redelivered_id,
            "duplicate",
            "same bytes again with event_id: skipped",
        ),
    ]


def corpus() -> list[Line]:
    return [*framing(), *identifiers(), *numbers_and_times(), *accepted()]


def main() -> None:
    lines = corpus()
    names = [str(x["case"]) for x in lines]
    assert len(names) == len(set(names)), "case names must be unique"
    path = Path(__file__).with_name("corpus.jsonl")
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))
    print(f"{len(lines)} messages written to {path}")


if __name__ == "__main__":
    main()
