"""``kizuna samples [DIR]``: the sample files shipped in the package, to try every guide from a fresh install.

Without DIR it lists them; with DIR it copies them there (an existing file is refused without ``--force``).
Their provenance is in ``kizuna/data/samples/PROVENANCE.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import typer

from kizuna.clikit import FORCE_HELP, out, output_dir, output_file, say, write_output


@dataclass(frozen=True, slots=True)
class Sample:
    name: str  # the file name it is copied as
    package: str  # the package that holds it
    path: str  # its path inside that package
    what: str

    def resource(self) -> Traversable:
        return resources.files(self.package).joinpath(self.path)


def _data(name: str, what: str, path: str | None = None) -> Sample:
    return Sample(name, "kizuna.data", path or f"samples/{name}", what)


def _scenario(stem: str, what: str) -> Sample:
    return Sample(f"{stem}.toml", "kizuna.minerals", f"examples/{stem}.toml", what)


SAMPLES: tuple[Sample, ...] = (
    _data("indicators.json", "STIX 2.1 bundle of a partner CERT's indicators (kizuna match --bundle)"),
    _data("exchange.json", "TAXII envelope of four indicators at GREEN, AMBER, RED and unmarked (to POST)"),
    _data("conn.log", "Zeek conn log of a plant network (with one truncated record)"),
    _data("dns.log", "Zeek dns log"),
    _data("http.log", "Zeek http log"),
    _data("eve.json", "Suricata EVE JSON of the same activity"),
    _data("ecs.ndjson", "ECS JSON lines of the same activity"),
    _data("partner.cdm", "CCSDS CDM (KVN, with covariances) as a partner sends it (Orekit example)"),
    _data("LICENSE-Orekit.txt", "licence of partner.cdm (Apache-2.0)"),
    _data("NOTICE-Orekit.txt", "attribution of partner.cdm"),
    _data(
        "iridium33_cosmos2251.tle",
        "last TLEs of Iridium 33 and Cosmos 2251 before their 2009 collision",
        "space/iridium33_cosmos2251.tle",
    ),
    _scenario("rare-earths-2025-04", "minerals scenario: China's rare-earth controls of April 2025"),
    _scenario("gallium-2023", "minerals scenario: China's gallium controls of 2023"),
    _scenario("graphite-2023", "minerals scenario: China's graphite controls of 2023"),
    _scenario("cobalt-drc-2025", "minerals scenario: the DRC's cobalt export quota of 2025"),
    _scenario("indonesia-nickel-2020", "minerals scenario: Indonesia's nickel ore export ban of 2020"),
)


def samples_cmd(
    folder: Path | None = typer.Argument(
        None, help="Copy the samples into this folder (created if missing); without it, list them."
    ),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """The sample logs, indicators, CDM, TLEs and scenarios shipped with kizuna, to try every guide."""
    if folder is None:
        width = max(len(s.name) for s in SAMPLES)
        for s in SAMPLES:
            out.print(f"{s.name:<{width}}  {s.what}", soft_wrap=True)
        out.print(f"(copy them with 'kizuna samples DIR'; provenance: {_provenance()})", soft_wrap=True)
        return
    output_dir(folder, what="samples folder")
    targets = [folder / s.name for s in SAMPLES]
    for t in targets:  # every file checked before the first is written: all or nothing refused
        if folder.is_dir():
            output_file(t, force=force, what="sample file")
    folder.mkdir(exist_ok=True)
    for s, t in zip(SAMPLES, targets, strict=True):
        write_output(t, _writer(s.resource().read_bytes()), force=force, what="sample file")
    say(f"kizuna: wrote {len(SAMPLES)} sample files to {folder}")


def _writer(data: bytes) -> Callable[[Path], None]:
    def write(tmp: Path) -> None:
        tmp.write_bytes(data)

    return write


def _provenance() -> str:
    return str(resources.files("kizuna.data").joinpath("samples/PROVENANCE.md"))


def register(root: typer.Typer) -> None:
    root.command("samples")(samples_cmd)
