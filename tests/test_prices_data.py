"""The shipped price data (catalog/data/prices/*.toml), checked as data, and the loader's merge and errors.

Rows are read with ``tomllib`` directly (independent of the loader) and parametrized: every fact has a source and a
YYYY-MM date, values sit in sane ranges, GPU ids are catalog ids, and per-instance divisions stated in notes match.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date
from pathlib import Path

import pytest

from gpuplan.catalog.prices import load_prices
from gpuplan.errors import GpuplanError, InvalidInputError, MalformedFileError

ROOT = Path(__file__).resolve().parents[1]
PRICES = ROOT / "src" / "gpuplan" / "catalog" / "data" / "prices"
DATE_RE = re.compile(r"^(19|20)\d\d-(0[1-9]|1[0-2])$")

# GPU ids that must exist in the catalog (shared/calibration/README.md); the catalog CSV adds to them when present.
CORE_GPU_IDS = set("""
rtx-3070 rtx-3080 rtx-3080-ti rtx-3090 rtx-3090-ti rtx-4060-ti-16gb rtx-4070-ti rtx-4080 rtx-4090 rtx-4090d rtx-5070
rtx-5070-ti rtx-5080 rtx-5090 rtx-4000-ada rtx-5000-ada rtx-6000-ada rtx-a6000 a40 a10 a10g l4 l20 l40 l40s t4 p40
v100-32gb a100-40gb-pcie a100-80gb-pcie a100-80gb-sxm a800-80gb h100-pcie h100-sxm h100-sxm-96gb h800-sxm h20 h200-sxm
b200 gb200 mi300x mi325x ascend-910b
""".split())


def _raw(name: str) -> dict:
    with (PRICES / name).open("rb") as handle:
        return tomllib.load(handle)


def _facts():
    """(where, fact-table) for every sourced number in the shipped files."""
    general = _raw("general.toml")
    yield "exchange.usd_to_cny", general["exchange"]["usd_to_cny"]
    for region, entry in general["electricity"]["regions"].items():
        yield f"electricity.{region}", entry
    for key in ("pue", "depreciation_years", "ops_fraction_of_capex_per_year"):
        if key in general:
            yield key, general[key]
    for gid, entry in _raw("gpus.toml")["gpus"].items():
        for kind, item in entry.items():
            yield f"gpus.{gid}.{kind}", item
    nodes = _raw("nodes.toml")
    for cid, entry in nodes["classes"].items():
        for key in ("base", "base_fraction_of_gpu_cost", "base_watts"):
            if key in entry:
                yield f"classes.{cid}.{key}", entry[key]
    for nid, entry in nodes["networks"].items():
        for key in ("per_node", "per_gpu_rail"):
            if key in entry:
                yield f"networks.{nid}.{key}", entry[key]
    for i, offer in enumerate(_raw("cloud.toml")["offers"]):
        yield f"offers[{i}] {offer['provider']} {offer['gpu']}", offer


FACTS = list(_facts())


@pytest.mark.parametrize(("where", "item"), FACTS, ids=[w for w, _ in FACTS])
def test_every_fact_has_source_date_and_value(where, item):
    assert isinstance(item["value"], int | float) and item["value"] >= 0, where
    assert DATE_RE.match(item["date"]), where
    assert item["date"] <= date.today().strftime("%Y-%m"), where  # no prices from the future
    src = item["source"]
    assert src.startswith("https://") or src.startswith("shared/reference/"), where


RANGES = {  # unit: (low, high) — wide sanity bounds, not claims
    "USD": (100, 100_000), "CNY": (500, 1_000_000), "USD/GPU-hour": (0.05, 50), "CNY/GPU-hour": (0.3, 400),
    "USD/kWh": (0.01, 1.0), "CNY/kWh": (0.05, 7.0), "CNY/USD": (5.0, 9.0), "ratio": (1.0, 3.0),
    "fraction": (0.0, 1.0), "years": (1, 10), "W": (10, 20_000),
}


@pytest.mark.parametrize(("where", "item"), FACTS, ids=[w for w, _ in FACTS])
def test_values_in_sane_ranges(where, item):
    low, high = RANGES[item["unit"]]
    if where.startswith("networks."):
        low = 10  # a network port costs far less than a GPU
    assert low <= item["value"] <= high, where


def _catalog_gpu_ids() -> set[str]:
    ids = set(CORE_GPU_IDS)
    csv_path = ROOT / "src" / "gpuplan" / "catalog" / "data" / "gpus.csv"
    if csv_path.exists():
        import csv

        with csv_path.open(encoding="utf-8") as handle:
            ids |= {row["id"] for row in csv.DictReader(handle) if row.get("id")}
    return ids


def test_gpu_ids_are_catalog_ids():
    ids = _catalog_gpu_ids()
    priced = set(_raw("gpus.toml")["gpus"]) | {o["gpu"] for o in _raw("cloud.toml")["offers"]}
    assert priced - ids == set()


_DIVISION_RE = re.compile(r"\$([\d,]+\.?\d*) per instance-hour / (\d+)")


@pytest.mark.parametrize("offer", [o for o in _raw("cloud.toml")["offers"] if _DIVISION_RE.search(o.get("note", ""))],
                         ids=lambda o: f"{o['provider']}-{o['gpu']}")
def test_per_gpu_price_matches_the_instance_price_in_the_note(offer):
    # Notes quote the provider's instance price, e.g. "$55.04 per instance-hour / 8 GPUs"; the stored per-GPU value
    # must be that division (rounded to the 4 decimals we keep).
    match = _DIVISION_RE.search(offer["note"])
    instance_usd, gpus = float(match.group(1).replace(",", "")), int(match.group(2))
    assert gpus == offer["gpus_per_instance"]
    assert offer["value"] == pytest.approx(instance_usd / gpus, abs=5e-4)


def test_published_values_pinned():
    book = load_prices()
    # China Foreign Exchange Trade System central parity 7.0197 CNY/USD on 2026-01-08
    # (https://menafn.com/1110571586/Chinese-Yuan-Edges-Down-Against-US-Dollar).
    assert book.usd_to_cny.value == pytest.approx(7.0197, abs=5e-5)
    # Uptime Institute industry average PUE 2023: 1.58
    # (https://intelligence.uptimeinstitute.com/resource/large-data-centers-are-mostly-more-efficient-analysis-confirms).
    assert book.pue.value == pytest.approx(1.58, abs=0.005)
    # NVIDIA DGX H100 datasheet "~10.2kW max" minus 8 × 700 W H100 SXM TDP = 4,600 W.
    assert book.node_classes["hgx-8gpu"].base_watts.value == pytest.approx(10_200 - 8 * 700, abs=1)
    # Lambda 8x H100 SXM $3.99 per GPU-hour (https://lambda.ai/instances, transcribed 2026-09-20).
    lam = [o for o in book.offers_for("h100-sxm", "lambda")]
    assert lam and lam[0].price.value == pytest.approx(3.99, abs=0.005)


def test_shipped_book_loads_and_is_consistent():
    book = load_prices()
    assert book.default_electricity_region in book.electricity
    assert {"workstation-1gpu", "workstation-4gpu", "pcie-server-4gpu", "pcie-server-8gpu", "hgx-8gpu"} <= set(book.node_classes)
    assert {"none", "ethernet-25g", "ethernet-100g", "roce-400g", "ib-ndr-400g"} <= set(book.networks)
    assert {"aws", "gcp", "azure", "lambda", "coreweave", "runpod"} <= set(book.providers)


# ---------------------------------------------------------------- user overrides


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prices.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_user_file_merges_over_shipped(tmp_path):
    path = _write(tmp_path, """
[pue]
value = 1.2
unit = "ratio"
date = "2026-11"
source = "our meter"

[electricity]
default_region = "shanghai"
[electricity.regions.shanghai]
value = 0.65
unit = "CNY/kWh"
date = "2026-11"
source = "our bill"

[gpus.h20.china]
value = 98000
unit = "CNY"
date = "2026-11"
source = "our quote"

[[offers]]
provider = "autodl"
gpu = "rtx-4090"
instance = "RTX 4090"
value = 1.98
unit = "CNY/GPU-hour"
date = "2026-11"
source = "our invoice"

[[offers]]
provider = "lambda"
gpu = "h100-sxm"
instance = "8x NVIDIA H100 SXM"
gpus_per_instance = 8
value = 2.5
unit = "USD/GPU-hour"
date = "2026-11"
source = "our contract"
""")
    book = load_prices(path)
    shipped = load_prices()
    assert book.pue.value == 1.2 and book.pue.source == "our meter"
    assert book.default_electricity_region == "shanghai"
    assert "us-commercial" in book.electricity  # shipped regions are kept
    # 0.65 CNY/kWh at the shipped 7.0197 CNY/USD.
    assert book.to_usd(book.electricity["shanghai"]) == pytest.approx(0.65 / 7.0197, rel=1e-12)
    assert book.gpus["h20"].china.value == 98000 and book.gpus["h20"].new is not None  # merged, not replaced
    assert len(book.cloud_offers) == len(shipped.cloud_offers) + 1  # autodl appended, lambda replaced
    assert book.offers_for("h100-sxm", "lambda")[0].price.value == 2.5
    assert book.offers_for("rtx-4090", "autodl")[0].price.unit == "CNY/GPU-hour"
    assert book.override_path == str(path)


def test_in_memory_overrides():
    book = load_prices(overrides={"ops_fraction_of_capex_per_year": {
        "value": 0.08, "unit": "fraction", "date": "2026-11", "source": "command line"}})
    assert book.ops_fraction_of_capex_per_year.value == 0.08


@pytest.mark.parametrize(("text", "error", "needle"), [
    ("[pue\nvalue = 1", MalformedFileError, "TOML"),
    ("[pue]\nvalue = 1.2\nunit = \"ratio\"\ndate = \"2026\"\nsource = \"x\"", MalformedFileError, "pue.date"),
    ("[pue]\nvalue = 1.2\nunit = \"ratio\"\ndate = \"2026-11\"", MalformedFileError, "source"),
    ("[pue]\nvalue = 9\nunit = \"ratio\"\ndate = \"2026-11\"\nsource = \"x\"", MalformedFileError, "pue.value"),
    ("[gpus.h100-sxm.new]\nvalue = -5\nunit = \"USD\"\ndate = \"2026-11\"\nsource = \"x\"", MalformedFileError, "gpus.h100-sxm.new.value"),
    ("[gpus.h100-sxm.new]\nvalue = 5\nunit = \"EUR\"\ndate = \"2026-11\"\nsource = \"x\"", MalformedFileError, "unit"),
    ("[gpus.h100-sxm.rented]\nvalue = 5\nunit = \"USD\"\ndate = \"2026-11\"\nsource = \"x\"", MalformedFileError, "rented"),
    ("[[offers]]\nprovider = \"x\"\ngpu = \"h100-sxm\"\ninstance = \"i\"\nvalue = 1\nunit = \"USD\"\ndate = \"2026-11\"\nsource = \"s\"",
     MalformedFileError, "offers"),
    ("[[offers]]\nprovider = \"x\"\ngpu = \"h100-sxm\"\ninstance = \"i\"\nterm = \"spot\"\nvalue = 1\nunit = \"USD/GPU-hour\"\ndate = \"2026-11\"\nsource = \"s\"",
     MalformedFileError, "term"),
    ("[electricity]\ndefault_region = \"mars\"", MalformedFileError, "default_region"),
    ("[prices]\nx = 1", InvalidInputError, "prices"),
])
def test_bad_user_files_get_one_sentence(tmp_path, text, error, needle):
    with pytest.raises(error) as info:
        load_prices(_write(tmp_path, text))
    for lang in ("en", "zh"):
        message = info.value.message(lang)
        assert "prices.toml" in message and needle in message
        assert not message.startswith("cost.")


def test_missing_and_oversized_files(tmp_path):
    with pytest.raises(InvalidInputError):
        load_prices(tmp_path / "nope.toml")
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * (2**20 + 10), encoding="utf-8")
    with pytest.raises(MalformedFileError):
        load_prices(big)


def test_all_loader_errors_are_gpuplan_errors(tmp_path):
    # Random junk never escapes as a bare exception.
    for junk in ("offers = 3", "gpus = 1", "[classes.x]\nmax_gpus = 0", "[exchange.usd_to_cny]\nvalue = 0\nunit = \"CNY/USD\"\ndate = \"2026-11\"\nsource = \"s\""):
        with pytest.raises(GpuplanError):
            load_prices(_write(tmp_path, junk))
