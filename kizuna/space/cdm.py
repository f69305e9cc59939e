"""CCSDS Conjunction Data Messages (CCSDS 508.0-B-1): a typed model, a lenient reader for KVN and XML,
and writers for both.

The reader is lenient because partner input often is: a hard-body radius in a ``COMMENT`` line, a unit
that does not match the standard, ``NaN`` in optional fields. Such findings are collected in
``Cdm.notes`` (one line each, naming the line) and never stop the read; a missing TCA, state vector or
object does, with an :class:`~kizuna.errors.InputError` naming file and line. Keys kizuna does not
model are kept verbatim in ``extra`` so nothing is dropped.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from kizuna.errors import InputError, NotFound
from kizuna.space.timeutil import format_ccsds, parse_utc

__all__ = ["COV_KEYS", "Cdm", "CdmObject", "parse_cdm", "read_cdm", "write_kvn", "write_xml"]

F64 = NDArray[np.float64]

#: Lower triangle of the 6x6 RTN covariance, row by row (CCSDS 508.0-B-1 table 3-4).
COV_KEYS: tuple[str, ...] = (
    "CR_R",
    "CT_R", "CT_T",
    "CN_R", "CN_T", "CN_N",
    "CRDOT_R", "CRDOT_T", "CRDOT_N", "CRDOT_RDOT",
    "CTDOT_R", "CTDOT_T", "CTDOT_N", "CTDOT_RDOT", "CTDOT_TDOT",
    "CNDOT_R", "CNDOT_T", "CNDOT_N", "CNDOT_RDOT", "CNDOT_TDOT", "CNDOT_NDOT",
)  # fmt: skip
STATE_KEYS = ("X", "Y", "Z", "X_DOT", "Y_DOT", "Z_DOT")
REL_POS_KEYS = ("RELATIVE_POSITION_R", "RELATIVE_POSITION_T", "RELATIVE_POSITION_N")
REL_VEL_KEYS = ("RELATIVE_VELOCITY_R", "RELATIVE_VELOCITY_T", "RELATIVE_VELOCITY_N")


def _cov_unit(key: str) -> str:
    row, col = key[1:].split("_")
    n_dot = row.endswith("DOT") + col.endswith("DOT")
    return ("m**2", "m**2/s", "m**2/s**2")[n_dot]


EXPECTED_UNITS: dict[str, str] = {
    "MISS_DISTANCE": "m",
    "RELATIVE_SPEED": "m/s",
    **{k: "m" for k in REL_POS_KEYS},
    **{k: "m/s" for k in REL_VEL_KEYS},
    **{k: "km" for k in STATE_KEYS[:3]},
    **{k: "km/s" for k in STATE_KEYS[3:]},
    **{k: _cov_unit(k) for k in COV_KEYS},
    "SCREEN_VOLUME_X": "m",
    "SCREEN_VOLUME_Y": "m",
    "SCREEN_VOLUME_Z": "m",
    "HBR": "m",
}
_SCALE = {("km", "m"): 1000.0, ("m", "km"): 0.001, ("km/s", "m/s"): 1000.0, ("m/s", "km/s"): 0.001}
_HBR_RE = re.compile(r"\bHBR\b\s*[=:]?\s*([-+0-9.eE]+)\s*(?:\[?\s*(m|km)\s*\]?)?", re.IGNORECASE)


@dataclass
class CdmObject:
    """One of the two objects of a CDM. States in km and km/s in ``ref_frame``; covariance in RTN,
    CDM units (m**2, m**2/s, m**2/s**2), or None when the sender had none."""

    object_designator: str
    object_name: str
    international_designator: str
    r_km: tuple[float, float, float]
    v_km_s: tuple[float, float, float]
    cov_rtn: F64 | None = None
    catalog_name: str = "SATCAT"
    ephemeris_name: str = "NONE"
    covariance_method: str = "CALCULATED"
    maneuverable: str = "N/A"
    ref_frame: str = "EME2000"
    comments: list[str] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class Cdm:
    creation_date: datetime
    originator: str
    message_id: str
    tca: datetime
    miss_distance_m: float
    objects: tuple[CdmObject, CdmObject]
    version: str = "1.0"
    message_for: str | None = None
    relative_speed_m_s: float | None = None
    relative_position_rtn_m: tuple[float, float, float] | None = None
    relative_velocity_rtn_m_s: tuple[float, float, float] | None = None
    collision_probability: float | None = None
    collision_probability_method: str | None = None
    hbr_m: float | None = None
    comments: list[str] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# ---- reading ------------------------------------------------------------------------------------


@dataclass
class _Item:
    key: str
    value: str
    unit: str | None
    line: int | None


@dataclass
class _Section:
    items: list[_Item] = field(default_factory=list)
    comments: list[tuple[str, int | None]] = field(default_factory=list)


def _kvn_sections(text: str) -> list[_Section]:
    sections = [_Section()]
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("COMMENT"):
            sections[-1].comments.append((line[7:].strip(), lineno))
            continue
        key, sep, rest = line.partition("=")
        if not sep:
            sections[-1].comments.append((f"(unparsed) {line}", lineno))
            continue
        key = key.strip()
        rest = rest.strip()
        unit = None
        m = re.match(r"^(.*?)\s*\[([^\]]*)\]\s*$", rest)
        if m:
            rest, unit = m.group(1).strip(), m.group(2).strip()
        if key == "OBJECT":
            sections.append(_Section())
        sections[-1].items.append(_Item(key, rest, unit, lineno))
    return sections


def _xml_sections(text: str, source: str) -> list[_Section]:
    try:
        root = ET.fromstring(text.encode("utf-8") if text.lstrip().startswith("<?xml") else text)
    except ET.ParseError as exc:
        raise InputError(f"not well-formed XML: {exc}", path=source, line=exc.position[0]) from None

    def local(tag: str) -> str:
        return tag.rsplit("}", 1)[-1]

    def flatten(elem: ET.Element, sec: _Section) -> None:
        for child in elem:
            tag = local(child.tag)
            if len(child):
                flatten(child, sec)
            elif tag == "COMMENT":
                sec.comments.append(((child.text or "").strip(), None))
            else:
                sec.items.append(_Item(tag, (child.text or "").strip(), child.get("units"), None))

    sections = [_Section()]
    for elem in root:
        tag = local(elem.tag)
        if tag in {"header", "body"}:
            for sub in elem:
                subtag = local(sub.tag)
                if subtag == "segment":
                    sec = _Section()
                    flatten(sub, sec)
                    sections.append(sec)
                elif subtag == "COMMENT":
                    sections[0].comments.append(((sub.text or "").strip(), None))
                elif len(sub):
                    flatten(sub, sections[0])
                else:
                    sections[0].items.append(_Item(subtag, (sub.text or "").strip(), sub.get("units"), None))
    version = root.get("version")
    if version:
        sections[0].items.insert(0, _Item("CCSDS_CDM_VERS", version, None, None))
    return sections


class _Reader:
    def __init__(self, source: str, notes: list[str]) -> None:
        self.source = source
        self.notes = notes

    def where(self, line: int | None) -> str:
        return f"{self.source}:{line}" if line is not None else self.source

    def number(self, item: _Item) -> float | None:
        try:
            value = float(item.value)
        except ValueError:
            raise InputError(
                f"{item.key} is not a number: {item.value!r}", path=self.source, line=item.line
            ) from None
        if math.isnan(value):
            self.notes.append(f"{self.where(item.line)}: {item.key} is NaN; treated as absent")
            return None
        expected = EXPECTED_UNITS.get(item.key)
        if expected and item.unit is not None and item.unit != expected:
            scale = _SCALE.get((item.unit, expected))
            if scale is not None:
                self.notes.append(
                    f"{self.where(item.line)}: {item.key} given in [{item.unit}], converted to [{expected}]"
                )
                return value * scale
            self.notes.append(
                f"{self.where(item.line)}: {item.key} has unit [{item.unit}] where the standard says "
                f"[{expected}]; value read as [{expected}]"
            )
        return value


def _need(sec: dict[str, _Item], key: str, source: str, line: int | None, what: str) -> _Item:
    item = sec.get(key)
    if item is None or not item.value:
        raise InputError(f"{what} lacks {key}", path=source, line=line)
    return item


def _hbr_from_comments(comments: list[tuple[str, int | None]], reader: _Reader) -> float | None:
    for text, line in comments:
        m = _HBR_RE.search(text)
        if m:
            value = float(m.group(1)) * (1000.0 if (m.group(2) or "m").lower() == "km" else 1.0)
            reader.notes.append(
                f"{reader.where(line)}: hard-body radius {value:g} m taken from a COMMENT line"
            )
            return value
    return None


def _build(sections: list[_Section], source: str) -> Cdm:
    notes: list[str] = []
    reader = _Reader(source, notes)
    head = {it.key: it for it in sections[0].items}
    first_line = sections[0].items[0].line if sections[0].items else None
    objs = [s for s in sections[1:] if s.items]
    if len(objs) != 2:
        raise InputError(f"a CDM has two objects, found {len(objs)}", path=source, line=first_line)
    tca_item = _need(head, "TCA", source, first_line, "the relative metadata")
    try:
        tca = parse_utc(tca_item.value)
    except InputError as exc:
        raise InputError(f"TCA: {exc.reason}", path=source, line=tca_item.line) from None
    miss_item = _need(head, "MISS_DISTANCE", source, first_line, "the relative metadata")
    miss = reader.number(miss_item)
    if miss is None:
        raise InputError("MISS_DISTANCE is NaN", path=source, line=miss_item.line)

    def opt_num(key: str) -> float | None:
        it = head.get(key)
        return None if it is None or not it.value else reader.number(it)

    def opt_vec(keys: tuple[str, ...]) -> tuple[float, float, float] | None:
        vals = [opt_num(k) for k in keys]
        if any(v is None for v in vals):
            return None
        return (float(vals[0] or 0.0), float(vals[1] or 0.0), float(vals[2] or 0.0))

    created_item = head.get("CREATION_DATE")
    created = parse_utc(created_item.value) if created_item and created_item.value else tca
    hbr = opt_num("HBR") if "HBR" in head else None
    all_comments = list(sections[0].comments) + [c for s in objs for c in s.comments]
    if hbr is None:
        hbr = _hbr_from_comments(all_comments, reader)
    modelled = {
        "CCSDS_CDM_VERS", "CREATION_DATE", "ORIGINATOR", "MESSAGE_FOR", "MESSAGE_ID", "TCA",
        "MISS_DISTANCE", "RELATIVE_SPEED", *REL_POS_KEYS, *REL_VEL_KEYS, "COLLISION_PROBABILITY",
        "COLLISION_PROBABILITY_METHOD", "HBR",
    }  # fmt: skip
    pc_item = head.get("COLLISION_PROBABILITY")
    cdm_objects = [_build_object(s, reader, source) for s in objs]
    return Cdm(
        version=head["CCSDS_CDM_VERS"].value if "CCSDS_CDM_VERS" in head else "1.0",
        creation_date=created,
        originator=head["ORIGINATOR"].value if "ORIGINATOR" in head else "",
        message_for=head["MESSAGE_FOR"].value if "MESSAGE_FOR" in head else None,
        message_id=head["MESSAGE_ID"].value if "MESSAGE_ID" in head else "",
        tca=tca,
        miss_distance_m=miss,
        relative_speed_m_s=opt_num("RELATIVE_SPEED"),
        relative_position_rtn_m=opt_vec(REL_POS_KEYS),
        relative_velocity_rtn_m_s=opt_vec(REL_VEL_KEYS),
        collision_probability=None if pc_item is None or not pc_item.value else reader.number(pc_item),
        collision_probability_method=head["COLLISION_PROBABILITY_METHOD"].value
        if "COLLISION_PROBABILITY_METHOD" in head
        else None,
        hbr_m=hbr,
        comments=[c for c, _ in sections[0].comments],
        extra={k: v.value for k, v in head.items() if k not in modelled},
        objects=(cdm_objects[0], cdm_objects[1]),
        notes=notes,
    )


def _build_object(sec: _Section, reader: _Reader, source: str) -> CdmObject:
    items = {it.key: it for it in sec.items}
    line = sec.items[0].line
    label = items["OBJECT"].value if "OBJECT" in items else "object"
    state: list[float] = []
    for key in STATE_KEYS:
        item = _need(items, key, source, line, label)
        value = reader.number(item)
        if value is None:
            raise InputError(f"{label} {key} is NaN", path=source, line=item.line)
        state.append(value)
    cov: F64 | None = None
    if all(k in items for k in COV_KEYS):
        vals = [reader.number(items[k]) for k in COV_KEYS]
        if all(v is not None for v in vals):
            cov = np.zeros((6, 6))
            rows, cols = np.tril_indices(6)
            cov[rows, cols] = [float(v or 0.0) for v in vals]
            cov = cov + np.tril(cov, -1).T
    else:
        missing = [k for k in COV_KEYS if k not in items]
        reader.notes.append(
            f"{reader.where(line)}: {label} has no covariance (missing {', '.join(missing[:3])}...)"
        )

    def text(key: str, default: str) -> str:
        return items[key].value if key in items and items[key].value else default

    modelled = {
        "OBJECT", "OBJECT_DESIGNATOR", "CATALOG_NAME", "OBJECT_NAME", "INTERNATIONAL_DESIGNATOR",
        "EPHEMERIS_NAME", "COVARIANCE_METHOD", "MANEUVERABLE", "REF_FRAME", *STATE_KEYS, *COV_KEYS,
    }  # fmt: skip
    return CdmObject(
        object_designator=text("OBJECT_DESIGNATOR", ""),
        object_name=text("OBJECT_NAME", ""),
        international_designator=text("INTERNATIONAL_DESIGNATOR", ""),
        catalog_name=text("CATALOG_NAME", "SATCAT"),
        ephemeris_name=text("EPHEMERIS_NAME", "NONE"),
        covariance_method=text("COVARIANCE_METHOD", "CALCULATED"),
        maneuverable=text("MANEUVERABLE", "N/A"),
        ref_frame=text("REF_FRAME", "EME2000"),
        r_km=(state[0], state[1], state[2]),
        v_km_s=(state[3], state[4], state[5]),
        cov_rtn=cov,
        comments=[c for c, _ in sec.comments],
        extra={k: v.value for k, v in items.items() if k not in modelled},
    )


def parse_cdm(text: str, *, source: str = "<cdm>") -> Cdm:
    """Parse a CDM in KVN or XML (detected from the first character)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if text.lstrip().startswith("<"):
        return _build(_xml_sections(text, source), source)
    if "CCSDS_CDM_VERS" not in text[:2000]:
        raise InputError("not a CDM: no CCSDS_CDM_VERS line", path=source, line=1)
    return _build(_kvn_sections(text), source)


def read_cdm(path: str | Path) -> Cdm:
    """Read a CDM file (KVN or XML); NotFound / InputError name the file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"{p}: CDM file not found") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text: {exc.reason}", path=str(p)) from None
    return parse_cdm(text, source=str(p))


# ---- writing ------------------------------------------------------------------------------------


def _num(x: float) -> str:
    return f"{x:.9g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.6e}"


def _cov_values(obj: CdmObject) -> list[float]:
    cov = obj.cov_rtn if obj.cov_rtn is not None else np.zeros((6, 6))
    rows, cols = np.tril_indices(6)
    return [float(x) for x in cov[rows, cols]]


def _header_items(cdm: Cdm) -> list[tuple[str, str, str | None]]:
    items: list[tuple[str, str, str | None]] = [
        ("CREATION_DATE", format_ccsds(cdm.creation_date), None),
        ("ORIGINATOR", cdm.originator, None),
    ]
    if cdm.message_for:
        items.append(("MESSAGE_FOR", cdm.message_for, None))
    items.append(("MESSAGE_ID", cdm.message_id, None))
    return items


def _relative_items(cdm: Cdm) -> list[tuple[str, str, str | None]]:
    items: list[tuple[str, str, str | None]] = [
        ("TCA", format_ccsds(cdm.tca), None),
        ("MISS_DISTANCE", f"{cdm.miss_distance_m:.3f}", "m"),
    ]
    if cdm.relative_speed_m_s is not None:
        items.append(("RELATIVE_SPEED", f"{cdm.relative_speed_m_s:.3f}", "m/s"))
    if cdm.relative_position_rtn_m is not None and cdm.relative_velocity_rtn_m_s is not None:
        items += [
            (k, f"{x:.3f}", "m") for k, x in zip(REL_POS_KEYS, cdm.relative_position_rtn_m, strict=True)
        ]
        items += [
            (k, f"{x:.3f}", "m/s") for k, x in zip(REL_VEL_KEYS, cdm.relative_velocity_rtn_m_s, strict=True)
        ]
    if cdm.collision_probability is not None:
        items.append(("COLLISION_PROBABILITY", f"{cdm.collision_probability:.6e}", None))
        if cdm.collision_probability_method:
            items.append(("COLLISION_PROBABILITY_METHOD", cdm.collision_probability_method, None))
    return items


def _object_meta(obj: CdmObject, label: str) -> list[tuple[str, str, str | None]]:
    return [
        ("OBJECT", label, None),
        ("OBJECT_DESIGNATOR", obj.object_designator, None),
        ("CATALOG_NAME", obj.catalog_name, None),
        ("OBJECT_NAME", obj.object_name, None),
        ("INTERNATIONAL_DESIGNATOR", obj.international_designator, None),
        ("EPHEMERIS_NAME", obj.ephemeris_name, None),
        ("COVARIANCE_METHOD", obj.covariance_method, None),
        ("MANEUVERABLE", obj.maneuverable, None),
        ("REF_FRAME", obj.ref_frame, None),
    ]


def _object_state(obj: CdmObject) -> list[tuple[str, str, str | None]]:
    vals = (*obj.r_km, *obj.v_km_s)
    return [(k, f"{x:.9f}", EXPECTED_UNITS[k]) for k, x in zip(STATE_KEYS, vals, strict=True)]


def _object_cov(obj: CdmObject) -> list[tuple[str, str, str | None]]:
    return [(k, f"{x:.9e}", EXPECTED_UNITS[k]) for k, x in zip(COV_KEYS, _cov_values(obj), strict=True)]


def write_kvn(cdm: Cdm) -> str:
    """The CDM as KVN text (CCSDS 508.0-B-1 section 3)."""
    lines: list[str] = [f"{'CCSDS_CDM_VERS':<36}= {cdm.version}"]

    def emit(items: list[tuple[str, str, str | None]]) -> None:
        for key, value, unit in items:
            text = f"{key:<36}= {value}"
            lines.append(f"{text:<72} [{unit}]" if unit else text)

    def comment(texts: list[str]) -> None:
        lines.extend(f"COMMENT {t}" for t in texts)

    comment(cdm.comments)
    emit(_header_items(cdm))
    emit(_relative_items(cdm))
    for label, obj in zip(("OBJECT1", "OBJECT2"), cdm.objects, strict=True):
        emit(_object_meta(obj, label)[:1])
        comment(obj.comments)
        emit(_object_meta(obj, label)[1:])
        emit(_object_state(obj))
        emit(_object_cov(obj))
    return "\n".join(lines) + "\n"


def write_xml(cdm: Cdm) -> str:
    """The CDM as XML (NDM/XML 1.0 CDM schema)."""
    root = ET.Element(
        "cdm",
        {
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "xsi:noNamespaceSchemaLocation": "http://sanaregistry.org/r/ndmxml/ndmxml-1.0-master.xsd",
            "id": "CCSDS_CDM_VERS",
            "version": cdm.version,
        },
    )

    def add(parent: ET.Element, items: list[tuple[str, str, str | None]]) -> None:
        for key, value, unit in items:
            el = ET.SubElement(parent, key, {"units": unit} if unit else {})
            el.text = value

    def comments(parent: ET.Element, texts: list[str]) -> None:
        for t in texts:
            ET.SubElement(parent, "COMMENT").text = t

    header = ET.SubElement(root, "header")
    comments(header, cdm.comments)
    add(header, _header_items(cdm))
    body = ET.SubElement(root, "body")
    rel = ET.SubElement(body, "relativeMetadataData")
    rel_items = _relative_items(cdm)
    add(rel, [i for i in rel_items if i[0] in {"TCA", "MISS_DISTANCE", "RELATIVE_SPEED"}])
    vec = [i for i in rel_items if i[0] in REL_POS_KEYS or i[0] in REL_VEL_KEYS]
    if vec:
        add(ET.SubElement(rel, "relativeStateVector"), vec)
    add(rel, [i for i in rel_items if i[0].startswith("COLLISION_PROBABILITY")])
    for label, obj in zip(("OBJECT1", "OBJECT2"), cdm.objects, strict=True):
        seg = ET.SubElement(body, "segment")
        meta = ET.SubElement(seg, "metadata")
        comments(meta, obj.comments)
        add(meta, _object_meta(obj, label))
        data = ET.SubElement(seg, "data")
        add(ET.SubElement(data, "stateVector"), _object_state(obj))
        add(ET.SubElement(data, "covarianceMatrix"), _object_cov(obj))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
