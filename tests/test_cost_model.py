"""Cost arithmetic against hand-worked cases (gpuplan.cost).

Every expected number below is worked out by hand in the comment next to it from the inputs of the test (round
numbers chosen so the arithmetic can be checked on paper), or copied from a published source cited by URL.
Tolerances: 1e-9 relative for hand-worked exact arithmetic; the source's rounding for published figures.
"""

from __future__ import annotations

import pytest

from gpuplan.catalog.prices import (
    CloudOffer,
    GpuPrices,
    NetworkPrice,
    NodeClass,
    PriceBook,
    PriceFact,
    load_prices,
)
from gpuplan.cost import CostInputs, cost_of, default_network, default_node_class, money, training_cost
from gpuplan.cost import formulas as f
from gpuplan.errors import InvalidInputError, UnknownNameError

REL = 1e-9


def fact(value: float, unit: str) -> PriceFact:
    return PriceFact(value=value, unit=unit, date="2026-11", source="test fixture")


def book(**changes) -> PriceBook:
    """A small price book with round numbers (not real prices) for hand-worked arithmetic."""
    base = dict(
        usd_to_cny=fact(7.0, "CNY/USD"),
        electricity={"test": fact(0.10, "USD/kWh"), "test-cn": fact(0.70, "CNY/kWh")},
        default_electricity_region="test",
        pue=fact(1.5, "ratio"),
        depreciation_years=fact(5, "years"),
        ops_fraction_of_capex_per_year=fact(0.05, "fraction"),
        gpus={"gpu-x": GpuPrices(new=fact(10_000, "USD"), used=fact(6_000, "USD"))},
        node_classes={
            "server-8": NodeClass(id="server-8", max_gpus=8, base=fact(20_000, "USD"), base_watts=fact(1000, "W")),
            "frac-8": NodeClass(id="frac-8", max_gpus=8, base_fraction_of_gpu_cost=fact(0.25, "fraction"),
                                base_watts=fact(1000, "W")),
            "bare-1": NodeClass(id="bare-1", max_gpus=1),
        },
        networks={
            "none": NetworkPrice(id="none"),
            "rail": NetworkPrice(id="rail", per_gpu_rail=fact(1_000, "USD")),
            "flat": NetworkPrice(id="flat", per_node=fact(3_000, "USD")),
            "dark": NetworkPrice(id="dark"),
        },
        cloud_offers=(
            CloudOffer(provider="cheap", gpu="gpu-x", instance="8x", gpus_per_instance=8, price=fact(2.0, "USD/GPU-hour")),
            CloudOffer(provider="dear", gpu="gpu-x", instance="1x", gpus_per_instance=1, price=fact(3.0, "USD/GPU-hour")),
            CloudOffer(provider="yuan", gpu="gpu-x", instance="1x", gpus_per_instance=1, price=fact(21.0, "CNY/GPU-hour")),
        ),
    )
    base.update(changes)
    return PriceBook(**base)


def case_a(**changes) -> CostInputs:
    base = dict(gpu_id="gpu-x", gpu_count=8, nodes=1, node_class="server-8", network="none", gpu_tdp_watts=500,
                load_fraction=0.5, years=3, output_tokens_per_s=1000, input_tokens_per_s=3000,
                utilization_fraction=0.5, prefix_cache_hit_fraction=0.5, cloud_provider="cheap")
    base.update(changes)
    return CostInputs(**base)


def test_case_a_capex_opex_tco():
    r = cost_of(case_a(), book())
    # GPUs 8 × 10,000 = 80,000; server 1 × 20,000; no network → capex 100,000.
    assert r.capex_gpus_usd == 80_000 and r.capex_nodes_usd == 20_000 and r.capex_network_usd == 0
    assert r.capex_usd == 100_000
    # IT power 500 W × 0.5 × 8 + 1000 W × 1 = 3000 W; × PUE 1.5 = 4500 W.
    assert r.it_power_watts == pytest.approx(3000, rel=REL)
    assert r.facility_power_watts == pytest.approx(4500, rel=REL)
    # 4.5 kW × 8760 h = 39,420 kWh × $0.10 = $3,942 per year.
    assert r.power_usd_per_year == pytest.approx(3942, rel=REL)
    # Ops 5% × 100,000 = 5,000; opex 8,942; TCO 3 y = 100,000 + 3 × 8,942 = 126,826.
    assert r.ops_usd_per_year == pytest.approx(5000, rel=REL)
    assert r.opex_usd_per_year == pytest.approx(8942, rel=REL)
    assert r.tco_usd == pytest.approx(126_826, rel=REL)


def test_case_a_rent_and_break_even():
    r = cost_of(case_a(), book())
    # 8 GPUs on one 8-GPU instance at $2/GPU-h = $16/h; 3 years always on = 16 × 8760 × 3 = 420,480.
    assert r.cloud_provider == "cheap"
    assert r.cloud_usd_per_hour == pytest.approx(16, rel=REL)
    assert r.cloud_usd_total == pytest.approx(420_480, rel=REL)
    # Rent per month 16 × 730 = 11,680; opex per month 8,942 / 12 = 745.1667;
    # break-even = 100,000 / (11,680 − 745.1667) = 9.14508 months.
    assert r.break_even_months == pytest.approx(100_000 / (11_680 - 8_942 / 12), rel=REL)
    assert r.break_even_months == pytest.approx(9.14508, abs=1e-5)
    # Month 12: own = 100,000 + 8,942 = 108,942; rent = 11,680 × 12 = 140,160.
    point = r.monthly[12]
    assert point.month == 12
    assert point.own_usd == pytest.approx(108_942, rel=REL)
    assert point.rent_usd == pytest.approx(140_160, rel=REL)
    assert len(r.monthly) == 37  # months 0..36


def test_case_a_cost_per_million_tokens():
    r = cost_of(case_a(), book())
    # Owning per year: 100,000 / 5 y + 8,942 = 28,942.
    assert r.owned_usd_per_year == pytest.approx(28_942, rel=REL)
    # Tokens per year at 50% busy: out 1000 × 0.5 × 31,536,000 s = 15.768e9; in 3000 × ... = 47.304e9.
    assert r.output_tokens_per_year == pytest.approx(15.768e9, rel=REL)
    assert r.input_tokens_per_year == pytest.approx(47.304e9, rel=REL)
    # Compute share: uncached input 3000 × (1 − 0.5) = 1500 vs output 1000 → input 0.6, output 0.4.
    assert r.input_cost_share == pytest.approx(0.6, rel=REL)
    # Own: 28,942 × 0.4 / 15,768 M = $0.734196/M out; 28,942 × 0.6 / 47,304 M = $0.367098/M in.
    assert r.usd_per_million_output_tokens == pytest.approx(28_942 * 0.4 / 15_768, rel=REL)
    assert r.usd_per_million_input_tokens == pytest.approx(28_942 * 0.6 / 47_304, rel=REL)
    # Rent: 16 × 8760 = 140,160 per year → 140,160 × 0.4 / 15,768 = $3.5556/M out; × 0.6 / 47,304 = $1.7778/M in.
    assert r.cloud_usd_per_million_output_tokens == pytest.approx(32 / 9, rel=REL)
    assert r.cloud_usd_per_million_input_tokens == pytest.approx(16 / 9, rel=REL)


def test_cheapest_provider_counts_whole_instances():
    # 4 GPUs: 'cheap' must rent a whole 8-GPU instance (8 × $2 = $16/h); 'dear' rents 4 × $3 = $12/h;
    # 'yuan' is 21 CNY / 7 = $3/GPU-h → $12/h too; the first of equal offers wins ('dear', file order).
    r = cost_of(case_a(gpu_count=4, node_class="frac-8", cloud_provider=None), book())
    assert r.cloud_usd_per_hour == pytest.approx(12, rel=REL)
    assert r.cloud_provider == "dear"


def test_cny_offer_converted_with_the_exchange_rate():
    r = cost_of(case_a(gpu_count=1, node_class="frac-8", cloud_provider="yuan"), book())
    # 21 CNY per GPU-hour / 7 CNY per USD = $3 per GPU-hour.
    assert r.cloud_usd_per_hour == pytest.approx(3, rel=REL)


def test_cny_electricity_region():
    r = cost_of(case_a(electricity_region="test-cn"), book())
    # 0.70 CNY/kWh / 7 = $0.10/kWh: same as case A → $3,942 per year.
    assert r.power_usd_per_year == pytest.approx(3942, rel=REL)


def test_money_presents_cny():
    prices = book()
    # $100 × 7 CNY/USD = ¥700.
    assert money(100, "CNY", prices) == pytest.approx(700, rel=REL)
    assert money(100, "USD", prices) == 100
    assert money(None, "CNY", prices) is None
    assert money(100, "CNY", book(usd_to_cny=None)) is None
    with pytest.raises(InvalidInputError):
        money(1, "EUR", prices)


def test_node_base_as_fraction_of_gpu_cost_and_networks():
    # frac-8: 25% of GPUs (80,000) = 20,000 per the whole deployment; 16 GPUs on 2 nodes:
    # GPUs 160,000; servers 0.25 × 160,000 = 40,000; rail network 16 × 1,000 = 16,000 → capex 216,000.
    r = cost_of(case_a(gpu_count=16, nodes=2, node_class="frac-8", network="rail"), book())
    assert r.capex_nodes_usd == pytest.approx(40_000, rel=REL)
    assert r.capex_network_usd == pytest.approx(16_000, rel=REL)
    assert r.capex_usd == pytest.approx(216_000, rel=REL)
    # A per-node network: 2 × 3,000 = 6,000.
    r2 = cost_of(case_a(gpu_count=16, nodes=2, node_class="frac-8", network="flat"), book())
    assert r2.capex_network_usd == pytest.approx(6_000, rel=REL)


def test_used_gpus():
    r = cost_of(case_a(purchase="used"), book())
    # 8 × 6,000 + 20,000 = 68,000.
    assert r.capex_usd == pytest.approx(68_000, rel=REL)


def test_unknown_prices_are_unknown_not_guessed():
    prices = book(gpus={}, ops_fraction_of_capex_per_year=None)
    r = cost_of(case_a(), prices)
    assert r.capex_gpus_usd is None and r.capex_usd is None and r.tco_usd is None
    assert r.break_even_months is None and r.usd_per_million_output_tokens is None
    keys = {n.key for n in r.unknowns}
    assert "cost.unknown_gpu_price_new" in keys and "cost.unknown_ops" in keys
    # Power is still known: opex counts electricity only and says so.
    assert r.ops_usd_per_year is None
    assert r.opex_usd_per_year == pytest.approx(3942, rel=REL)
    # No price for the network of a multi-node deployment → capex unknown, named.
    r2 = cost_of(case_a(gpu_count=16, nodes=2, node_class="frac-8", network="dark"), book())
    assert r2.capex_usd is None
    assert "cost.unknown_network_price" in {n.key for n in r2.unknowns}
    # No TDP and no server watts → power unknown.
    r3 = cost_of(case_a(gpu_count=1, node_class="bare-1", gpu_tdp_watts=None), book())
    assert r3.power_usd_per_year is None and r3.capex_usd is None
    assert {"cost.unknown_tdp", "cost.unknown_node_watts", "cost.unknown_node_price"} <= {n.key for n in r3.unknowns}
    # No cloud offer for the GPU.
    r4 = cost_of(case_a(gpu_id="gpu-y", cloud_provider=None), book(gpus={"gpu-y": GpuPrices(new=fact(1, "USD"))}))
    assert r4.cloud_usd_per_hour is None and r4.cloud_usd_total is None
    assert "cost.unknown_cloud" in {n.key for n in r4.unknowns}
    # No throughput → no cost per token.
    r5 = cost_of(case_a(output_tokens_per_s=None), book())
    assert r5.usd_per_million_output_tokens is None and r5.usd_per_million_input_tokens is None
    assert "cost.unknown_throughput" in {n.key for n in r5.unknowns}
    for note in (*r.unknowns, *r2.unknowns, *r3.unknowns, *r4.unknowns, *r5.unknowns):
        assert not note.text("en").startswith("cost.") and not note.text("zh").startswith("cost.")


def test_never_breaks_even_when_renting_is_cheaper_per_month():
    # Cloud $0.01/GPU-h × 8 = $0.08/h → $58.4 per month, below opex of $745 per month → None.
    cheap = book(cloud_offers=(CloudOffer(provider="cheap", gpu="gpu-x", instance="8x", gpus_per_instance=8,
                                          price=fact(0.01, "USD/GPU-hour")),))
    assert cost_of(case_a(), cheap).break_even_months is None


def test_training_cost():
    r = training_cost(case_a(), tokens=1e9, train_tokens_per_s=1e4, prices=book())
    # 1e9 / 1e4 = 100,000 s = 27.7778 h; GPU-hours = 27.7778 × 8 = 222.222.
    assert r.seconds == pytest.approx(1e5, rel=REL)
    assert r.gpu_hours == pytest.approx(1e5 / 3600 * 8, rel=REL)
    # Rent: $16/h × 27.7778 h = $444.44; own: $28,942/y × 27.7778 / 8760 = $91.77.
    assert r.rent_usd == pytest.approx(16 * 1e5 / 3600, rel=REL)
    assert r.own_usd == pytest.approx(28_942 * (1e5 / 3600) / 8760, rel=REL)
    with pytest.raises(InvalidInputError):
        training_cost(case_a(), tokens=0, train_tokens_per_s=1, prices=book())


@pytest.mark.parametrize("changes", [
    {"gpu_count": 0}, {"nodes": 9}, {"years": 0}, {"years": 31}, {"load_fraction": 1.5},
    {"utilization_fraction": -0.1}, {"prefix_cache_hit_fraction": 1.0}, {"gpu_tdp_watts": -1.0},
    {"currency": "EUR"}, {"purchase": "rented"},
])
def test_bad_inputs_get_one_sentence(changes):
    with pytest.raises(InvalidInputError) as info:
        cost_of(case_a(**changes), book())
    for lang in ("en", "zh"):
        text = info.value.message(lang)
        assert "\n" not in text and not text.startswith("cost.")


def test_unknown_names():
    with pytest.raises(UnknownNameError) as info:
        cost_of(case_a(cloud_provider="nope"), book())
    assert "cheap" in str(info.value)
    with pytest.raises(UnknownNameError):
        cost_of(case_a(electricity_region="mars"), book())
    with pytest.raises(UnknownNameError):
        cost_of(case_a(node_class="mainframe"), book())
    with pytest.raises(UnknownNameError):
        cost_of(case_a(network="carrier-pigeon", gpu_count=16, nodes=2, node_class="frac-8"), book())
    with pytest.raises(InvalidInputError):  # 16 GPUs do not fit one 8-GPU server
        cost_of(case_a(gpu_count=16, nodes=1), book())


def test_default_node_class_and_network():
    assert default_node_class("rtx-4090", 1) == "workstation-1gpu"
    assert default_node_class("h100-sxm", 8) == "hgx-8gpu"
    assert default_node_class("h20", 8) == "hgx-8gpu"
    assert default_node_class("l40s", 4) == "pcie-server-4gpu"
    assert default_node_class("l40s", 8) == "pcie-server-8gpu"
    assert default_network("hgx-8gpu", 1) == "none"
    assert default_network("hgx-8gpu", 2) == "ib-ndr-400g"
    assert default_network("pcie-server-8gpu", 2) == "ethernet-100g"


def test_published_monthly_rental_figures():
    # datareceipts 109-gpu-pricing README (https://raw.githubusercontent.com/datareceipts/data-receipts/main/
    # 109-gpu-pricing/README.md): "$2.69 ... $1,964" and "$12.29 ... $8,972" for one GPU a month of 730 h.
    # Source rounds to whole dollars → ±0.5.
    assert f.cloud_usd_per_hour(2.69, 1, 1) * f.HOURS_PER_MONTH == pytest.approx(1964, abs=0.5)
    assert f.cloud_usd_per_hour(12.29, 1, 1) * f.HOURS_PER_MONTH == pytest.approx(8972, abs=0.5)
    # Same source, hyperscalers.json: p5.48xlarge $55.04 per instance-hour = $6.88 per GPU-hour × 8.
    assert f.cloud_usd_per_hour(6.88, 8, 8) == pytest.approx(55.04, abs=0.005)


def test_shipped_prices_16_h100_sxm_capex():
    # From the shipped data files: H100 SXM MSRP $30k (https://huggingface.co/hardware/h100); HGX server base = 38%
    # of the GPUs (Epoch AI, https://epoch.ai/data/ai-chip-sales-documentation); InfiniBand NDR $1,882.5 per GPU
    # rail (spreadsheet linked in nodes.toml). 16 GPUs on 2 nodes:
    # 16 × 30,000 = 480,000; × 0.38 = 182,400; 16 × 1,882.5 = 30,120 → 692,520.
    r = cost_of(CostInputs(gpu_id="h100-sxm", gpu_count=16, nodes=2, gpu_tdp_watts=700), load_prices())
    assert r.node_class == "hgx-8gpu" and r.network == "ib-ndr-400g"
    assert r.capex_usd == pytest.approx(692_520, rel=REL)
    # Non-GPU power of the HGX class: DGX H100 10.2 kW max − 8 × 700 W = 4,600 W per node (NVIDIA datasheet);
    # IT power 700 × 0.7 × 16 + 4,600 × 2 = 17,040 W.
    assert r.it_power_watts == pytest.approx(17_040, rel=REL)
    assert r.sources  # every number used names its source


def test_plan_file_summary():
    from gpuplan.cost import to_cost_summary

    r = cost_of(case_a(), book(ops_fraction_of_capex_per_year=None))
    s = to_cost_summary(r, lang="en")
    # Same numbers as the result (capex 100,000; opex = electricity only 3,942 since ops is unknown).
    assert s.capex_usd == 100_000 and s.opex_usd_per_year == pytest.approx(3942, rel=REL)
    assert s.cloud_provider == "cheap" and s.years == 3
    assert any("operations" in u.lower() for u in s.unknowns)


def test_reserved_term_uses_reserved_offers():
    prices = book(cloud_offers=(
        CloudOffer(provider="p", gpu="gpu-x", instance="od", price=fact(3.0, "USD/GPU-hour")),
        CloudOffer(provider="p", gpu="gpu-x", instance="1y", term="reserved-1y", price=fact(2.0, "USD/GPU-hour")),
    ))
    # 8 GPUs × $3 on demand = $24/h; × $2 with the 1-year term = $16/h.
    assert cost_of(case_a(cloud_provider=None), prices).cloud_usd_per_hour == pytest.approx(24, rel=REL)
    r = cost_of(case_a(cloud_provider=None, cloud_term="reserved-1y"), prices)
    assert r.cloud_usd_per_hour == pytest.approx(16, rel=REL) and r.cloud_instance == "1y"
    with pytest.raises(InvalidInputError):
        cost_of(case_a(cloud_term="spot"), prices)
