"""CSV files with a declared mapping (``MAPPING.toml``): one indicator per row, streamed.

The mapping declares how to read the file (``delimiter``, ``quote``, ``encoding`` utf-8 or utf-8-sig,
``header`` true or ``columns = [...]``, ``comment`` prefix) and, under ``[fields]``, for each output field a
column or a constant: ``value`` (required), ``type`` (a fixed type, or a column holding MISP or STIX type
names), ``valid_from``, ``valid_until``, ``labels`` (with a ``separator``), ``description``,
``confidence``, ``tlp``, ``producer``. A field is written ``value = "column name"``,
``type = { constant = "ipv4-addr" }`` or ``labels = { column = "tags", separator = ";" }``.

Rules: header names are trimmed; the declared type is final and never guessed over; every value is checked
against its type and a bad one is reported with its line and column name; quoting follows RFC 4180 (quoted
fields may hold delimiters and newlines); an empty required field refuses the row, an empty optional one is
left out. Rows are read one at a time (constant memory); a unit is the whole file, or with ``batch_rows``
each batch of rows.
"""

from __future__ import annotations

import csv
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from kizuna.errors import InputError
from kizuna.ingest import mapping
from kizuna.ingest.mapping import ATTRIBUTES, derived_uuid
from kizuna.ingest.patterns import comparison_pattern
from kizuna.ingest.units import Record, Unit
from kizuna.stix.ids import format_timestamp, parse_timestamp
from kizuna.stix.markings import TLP2_IDS, parse_level

FIELDS = (
    "value",
    "type",
    "valid_from",
    "valid_until",
    "labels",
    "description",
    "confidence",
    "tlp",
    "producer",
)
ENCODINGS = ("utf-8", "utf-8-sig")
_PRODUCER_TIME = "2026-01-01T00:00:00.000Z"  # a producer identity derived from its name has one version

#: STIX names a CSV may declare as its type: (pattern path, value kind).
STIX_TYPES: dict[str, tuple[str, str]] = {
    "ipv4-addr": ("ipv4-addr:value", "ip"),
    "ipv6-addr": ("ipv6-addr:value", "ip"),
    "domain-name": ("domain-name:value", "domain"),
    "url": ("url:value", "url"),
    "email-addr": ("email-addr:value", "email"),
    "mac-addr": ("mac-addr:value", "mac"),
    "mutex": ("mutex:name", "text"),
    "autonomous-system": ("autonomous-system:number", "asn"),
    "windows-registry-key": ("windows-registry-key:key", "text"),
    "file:name": ("file:name", "text"),
    "file:hashes.MD5": ("file:hashes.MD5", "md5"),
    "file:hashes.SHA-1": ("file:hashes.'SHA-1'", "sha1"),
    "file:hashes.SHA-256": ("file:hashes.'SHA-256'", "sha256"),
    "file:hashes.SHA-512": ("file:hashes.'SHA-512'", "sha512"),
}


@dataclass(frozen=True, slots=True)
class Field:
    column: str | None = None
    constant: str | None = None
    separator: str | None = None


@dataclass(frozen=True, slots=True)
class CsvMapping:
    path: str
    delimiter: str = ","
    quote: str = '"'
    encoding: str = "utf-8"
    header: bool = True
    columns: tuple[str, ...] = ()
    comment: str | None = None
    fields: dict[str, Field] | None = None


def load_mapping(path: str | Path) -> CsvMapping:
    """Read and check a MAPPING.toml; InputError naming the file and the problem."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("mapping file not found", path=str(p)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not a TOML mapping: {exc}", path=str(p)) from None
    known = {"delimiter", "quote", "encoding", "header", "columns", "comment", "fields"}
    unknown = set(data) - known
    if unknown:
        raise InputError(f"unknown setting(s) {', '.join(sorted(unknown))}", path=str(p))
    encoding = str(data.get("encoding", "utf-8")).lower()
    if encoding not in ENCODINGS:
        raise InputError(f"encoding {encoding!r}: use one of {', '.join(ENCODINGS)}", path=str(p))
    delimiter = str(data.get("delimiter", ","))
    quote = str(data.get("quote", '"'))
    if len(delimiter) != 1 or len(quote) != 1:
        raise InputError("delimiter and quote must be one character each", path=str(p))
    raw_fields = data.get("fields")
    if not isinstance(raw_fields, dict) or "value" not in raw_fields:
        raise InputError("[fields] must declare at least 'value'", path=str(p))
    fields: dict[str, Field] = {}
    for name, spec in raw_fields.items():
        if name not in FIELDS:
            raise InputError(f"unknown field {name!r} (fields: {', '.join(FIELDS)})", path=str(p))
        if isinstance(spec, str):
            fields[name] = Field(column=spec.strip())
        elif isinstance(spec, dict) and ("column" in spec) != ("constant" in spec):
            fields[name] = Field(
                column=str(spec["column"]).strip() if "column" in spec else None,
                constant=str(spec["constant"]) if "constant" in spec else None,
                separator=str(spec["separator"]) if "separator" in spec else None,
            )
        else:
            raise InputError(f"field {name!r}: give a column name, or one of column / constant", path=str(p))
    if fields["value"].constant is not None:
        raise InputError("field 'value' must come from a column", path=str(p))
    if "type" not in fields:
        raise InputError("field 'type' is required (a constant type, or a column of type names)", path=str(p))
    if fields["type"].constant is not None:
        _type_path(fields["type"].constant, str(p))
    if fields.get("tlp") and fields["tlp"].constant is not None:
        try:
            parse_level(fields["tlp"].constant)
        except InputError as exc:
            raise InputError(f"field 'tlp': {exc.reason}", path=str(p)) from None
    columns = data.get("columns", [])
    header = bool(data.get("header", not columns))
    return CsvMapping(
        path=str(p),
        delimiter=delimiter,
        quote=quote,
        encoding=encoding,
        header=header,
        columns=tuple(str(c).strip() for c in columns),
        comment=str(data["comment"]) if data.get("comment") else None,
        fields=fields,
    )


def _type_path(name: str, where: str) -> list[tuple[str, str]]:
    """(path, kind) per part of a declared type (a STIX name from STIX_TYPES or a MISP type)."""
    if name in STIX_TYPES:
        return [STIX_TYPES[name]]
    tm = ATTRIBUTES.get(name)
    if tm is not None and tm.form == "observable":
        return list(zip(tm.paths, tm.kinds, strict=True))
    raise InputError(
        f"type {name!r} is neither a STIX type kizuna reads from CSV ({', '.join(STIX_TYPES)}) nor a mapped"
        " MISP type",
        path=where,
    )


class CsvReader:
    """Rows of one CSV file as indicator records, in units of ``batch_rows`` rows (0: the whole file)."""

    def __init__(self, path: str | Path, m: CsvMapping, *, producer_org: str, batch_rows: int = 0) -> None:
        self.path = Path(path)
        self.m = m
        self.source = str(self.path.resolve())
        self.name = str(path)
        self.batch_rows = batch_rows
        self.producer_org = producer_org
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            raise InputError("file not found", path=self.name) from None
        self.file_time = format_timestamp(datetime.fromtimestamp(int(mtime), UTC))

    def units(self) -> Iterator[Unit]:
        m = self.m
        assert m.fields is not None
        try:
            handle = self.path.open(encoding=m.encoding, newline="")
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", path=self.name) from None
        with handle:
            reader = csv.reader(handle, delimiter=m.delimiter, quotechar=m.quote, strict=True)
            line = 0
            columns = list(m.columns)
            unit = self._new_unit(1)
            rows_in_unit = 0
            first_row_line = 0
            try:
                for row in reader:
                    start = line + 1
                    line = reader.line_num
                    if m.comment and row and row[0].startswith(m.comment):
                        continue
                    if not row:
                        continue
                    if not columns:
                        columns = [c.strip() for c in row]
                        self._check_columns(columns, start)
                        continue
                    if rows_in_unit == 0:
                        first_row_line = start
                        unit = self._new_unit(start)
                    rows_in_unit += 1
                    self._row(unit, row, columns, start)
                    if self.batch_rows and rows_in_unit >= self.batch_rows:
                        unit.key = f"lines {first_row_line}-{line}"
                        yield unit
                        rows_in_unit = 0
            except UnicodeDecodeError as exc:
                where, byte = _undecodable(self.path, m.encoding)
                raise InputError(
                    f"not {m.encoding}: byte 0x{byte:02x} cannot be decoded ({exc.reason});"
                    " set 'encoding' in the mapping, or re-encode the file",
                    path=self.name,
                    line=where,
                ) from None
            except csv.Error as exc:
                raise InputError(f"CSV: {exc}", path=self.name, line=reader.line_num) from None
            if not columns:
                raise InputError("the file has no header row", path=self.name)
            if m.columns and not rows_in_unit and not self.batch_rows:
                self._check_columns(columns, 1)
            if rows_in_unit:
                if self.batch_rows:
                    unit.key = f"lines {first_row_line}-{line}"
                yield unit

    _columns: list[str] | None = None
    _get: dict[str, tuple[int, str]]

    def _new_unit(self, start: int) -> Unit:
        self._producers: set[str] = set()
        return Unit("csv", self.source, self.name if not self.batch_rows else f"lines {start}-")

    def _check_columns(self, columns: list[str], line: int) -> None:
        assert self.m.fields is not None
        missing = [
            f.column for f in self.m.fields.values() if f.column is not None and f.column not in columns
        ]
        if missing:
            raise InputError(
                f"the mapping names column(s) {', '.join(repr(c) for c in missing)} that the file lacks"
                f" (columns: {', '.join(columns)})",
                path=self.name,
                line=line,
            )

    def _getters(self, columns: list[str]) -> dict[str, tuple[int, str]]:
        """field -> (column index, constant): index -1 for a constant, absent for an unmapped field."""
        assert self.m.fields is not None
        out: dict[str, tuple[int, str]] = {}
        for name, f in self.m.fields.items():
            out[name] = (-1, f.constant) if f.constant is not None else (columns.index(str(f.column)), "")
        return out

    def _cell(self, name: str, row: list[str]) -> str:
        got = self._get.get(name)
        if got is None:
            return ""
        index, constant = got
        return constant if index < 0 else row[index].strip()

    def _row(self, unit: Unit, row: list[str], columns: list[str], line: int) -> None:
        where = f"{self.name}:{line}"
        if len(row) != len(columns):
            unit.problem(where, "", f"{len(row)} fields where the header has {len(columns)}")
            return
        cells = row
        if self._columns is not columns:
            self._columns, self._get = columns, self._getters(columns)
        assert self.m.fields is not None
        value = self._cell("value", cells)
        col = self.m.fields["value"].column
        if not value:
            unit.problem(where, "", f"column {col!r} (value) is empty")
            return
        type_name = self._cell("type", cells)
        if not type_name:
            unit.problem(where, value, f"column {self.m.fields['type'].column!r} (type) is empty")
            return
        try:
            parts = _type_path(type_name, where)
        except InputError as exc:
            unit.problem(where, value, exc.reason)
            return
        values = [value] if len(parts) == 1 else value.split("|")
        if len(values) != len(parts):
            unit.problem(where, value, f"column {col!r}: {value!r} is not a {type_name} value")
            return
        comparisons: list[tuple[str, str | int]] = []
        for (path, kind), part in zip(parts, values, strict=True):
            try:
                v = mapping.check_part(kind, part)
            except ValueError as exc:
                unit.problem(where, value, f"column {col!r}: {exc}")
                return
            comparisons.append((mapping.resolve_path(path, v), v))
        if type_name == "ipv4-addr" and any(p.startswith("ipv6") for p, _ in comparisons):
            unit.problem(
                where, value, f"column {col!r}: {value!r} is an IPv6 address, the type says ipv4-addr"
            )
            return
        if type_name == "ipv6-addr" and any(p.startswith("ipv4") for p, _ in comparisons):
            unit.problem(
                where, value, f"column {col!r}: {value!r} is an IPv4 address, the type says ipv6-addr"
            )
            return
        try:
            obj = self._indicator(comparisons, type_name, value, cells, where)
        except ValueError as exc:
            unit.problem(where, value, str(exc))
            return
        ref = obj.get("created_by_ref")
        if isinstance(ref, str) and ref not in self._producers:
            self._producers.add(ref)
            name = self._cell("producer", cells) or self.producer_org
            identity = {
                "type": "identity",
                "spec_version": "2.1",
                "id": ref,
                "created": _PRODUCER_TIME,
                "modified": _PRODUCER_TIME,
                "name": name,
                "identity_class": "organization",
            }
            unit.records.append(Record(identity, where, name))
        unit.records.append(Record(obj, where, value, (ref,) if isinstance(ref, str) else ()))

    def _indicator(
        self,
        comparisons: list[tuple[str, str | int]],
        type_name: str,
        value: str,
        cells: list[str],
        where: str,
    ) -> dict[str, Any]:
        producer = self._cell("producer", cells) or self.producer_org
        valid_from = _timestamp(self._cell("valid_from", cells), "valid_from")
        modified = valid_from or self.file_time
        obj: dict[str, Any] = {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{derived_uuid('csv', producer, type_name, value)}",
            "created": modified,
            "modified": modified,
            "pattern": comparison_pattern(comparisons),
            "pattern_type": "stix",
            "valid_from": valid_from or modified,
        }
        if self.m.fields and "producer" in self.m.fields:
            obj["created_by_ref"] = f"identity--{derived_uuid('csv-producer', producer)}"
        until = _timestamp(self._cell("valid_until", cells), "valid_until")
        if until:
            if until <= obj["valid_from"]:
                raise ValueError(f"valid_until {until} is not after valid_from {obj['valid_from']}")
            obj["valid_until"] = until
        labels_text = self._cell("labels", cells)
        if labels_text:
            assert self.m.fields is not None
            sep = self.m.fields["labels"].separator
            labels = [x.strip() for x in (labels_text.split(sep) if sep else [labels_text]) if x.strip()]
            if labels:
                obj["labels"] = labels
        description = self._cell("description", cells)
        if description:
            obj["description"] = description
        confidence = self._cell("confidence", cells)
        if confidence:
            if not confidence.isdigit() or int(confidence) > 100:
                raise ValueError(f"confidence {confidence!r} is not an integer 0-100")
            obj["confidence"] = int(confidence)
        tlp = self._cell("tlp", cells)
        if tlp:
            try:
                obj["object_marking_refs"] = [TLP2_IDS[parse_level(tlp)]]
            except InputError as exc:
                raise ValueError(exc.reason) from None
        return obj


def _undecodable(path: Path, encoding: str) -> tuple[int, int]:
    """(line, byte) of the first byte of ``path`` that ``encoding`` cannot decode (read line by line: the
    text reader decodes ahead in blocks, so its position says little)."""
    with path.open("rb") as f:
        for n, raw in enumerate(f, start=1):
            try:
                raw.decode(encoding)
            except UnicodeDecodeError as exc:
                return n, raw[exc.start]
    return 0, 0


@lru_cache(maxsize=1024)
def _timestamp(text: str, name: str) -> str:
    """A cell as a STIX timestamp: RFC 3339 / ISO 8601 (a bare date is midnight UTC); '' when empty."""
    if not text:
        return ""
    try:
        return format_timestamp(parse_timestamp(text))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a date or timestamp (ISO 8601)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_timestamp(moment)
