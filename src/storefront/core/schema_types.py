"""Building blocks for the domains' request schemas, so that what the OpenAPI document allows
is exactly what the service accepts.

- `integral_number`: JSON has one number type, and to JSON Schema (so to the OpenAPI document
  and every client generated from it) `2.0` is the integer 2. Put after a strict integer's
  constraints, `Annotated[int, Field(strict=True, ge=1), integral_number]`, it lets `2.0` in as
  2 while `2.5`, `"2"` and `true` stay a 422. (Last, so that the bounds stay in the schema as
  `minimum`/`maximum`.)
- `NON_BLANK_PATTERN`: for a string stripped of whitespace before its `min_length` is
  checked, so that the document does not offer "   ", which the service refuses. The class
  is the whitespace that pydantic strips (Unicode White_Space), spelled out because the regex
  dialects that read the document disagree on `\\s`; NUL is excluded as everywhere.
  `PRINTABLE_NON_BLANK_PATTERN` also refuses control and bidirectional-control characters,
  for people's names.
- `omit_null_from_schema`: a partial update whose fields may be left out but never set to
  null is typed `X | None` in Python; the document must not offer `null` for those fields.
- `PartialUpdate`: the base of PATCH bodies, built on the above.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, field_validator


def _integral_number(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


integral_number = BeforeValidator(_integral_number)

_STRIPPED = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NON_BLANK_PATTERN = rf"^[^\x00]*[^{_STRIPPED}\x00][^\x00]*$"
# Control characters (Unicode category Cc) and the bidirectional controls that can make a
# name read differently from what it is (U+061C, U+200E-F, U+202A-E, U+2066-9).
_CONTROLS = r"\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
PRINTABLE_NON_BLANK_PATTERN = rf"^[^{_CONTROLS}]*[^{_STRIPPED}{_CONTROLS}][^{_CONTROLS}]*$"


def omit_null_from_schema(schema: dict[str, Any]) -> None:
    """`json_schema_extra` for a model whose optional fields are not nullable."""
    for prop in schema.get("properties", {}).values():
        variants = prop.get("anyOf")
        if isinstance(variants, list):
            kept = [v for v in variants if v != {"type": "null"}]
            if len(kept) == 1:
                del prop["anyOf"]
                prop.update(kept[0])
            else:
                prop["anyOf"] = kept
        if "default" in prop and prop["default"] is None:
            del prop["default"]


class PartialUpdate(BaseModel):
    """Base of PATCH bodies: an omitted field is left unchanged, a field sent as null is a 422
    (and the document does not offer null), an unknown field is a 422."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=omit_null_from_schema)

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Runs only for fields present in the body: omitted fields keep their defaults.
        if value is None:
            raise ValueError("may not be null")
        return value

    def changes(self) -> dict[str, Any]:
        """The fields the client sent."""
        return self.model_dump(exclude_unset=True)
