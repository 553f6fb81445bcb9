"""Money, second round (issue 15): server classes by accelerator platform and the new sourced prices.

- AMD Instinct OAM modules sit eight to a Universal Baseboard with Infinity Fabric between them, "roughly in line with
  a NVIDIA HGX 8 GPU platform, except NVIDIA has the NVLink Switch architecture" (ServeTheHome 2024-06,
  https://servethehome.com/this-is-a-fun-amd-instinct-mi325x-8-gpu-baseboard-nvidia-hgx-feature): their own class,
  never labelled HGX/NVSwitch.
- Ascend 910C: CloudMatrix 384 "sells for about 60 million Chinese yuan ($8.2 m)" (Financial Times via Benzinga,
  2025-04) for 384 chips with servers and optical network: 156,250 yuan per chip, nothing added for servers/network.
- RTX 5060 Ti 16 GB: NVIDIA's launch price $429 (2025-04-15, WinBuzzer and other launch reports).
"""

from __future__ import annotations

import pytest

from gpuplan.catalog.prices import load_prices
from gpuplan.cost import CostInputs, cost_of, default_network, default_node_class
from gpuplan.cost.bom import BomInputs, bill_of_materials
from gpuplan.i18n import set_language

CLOUDMATRIX_384_CNY = 60_000_000
CLOUDMATRIX_384_CHIPS = 384


@pytest.fixture(autouse=True)
def _english():
    set_language("en")
    yield
    set_language("en")


@pytest.mark.parametrize(("gpu", "cls"), [
    ("mi300x", "oam-ubb-8gpu"), ("mi325x", "oam-ubb-8gpu"), ("mi355x", "oam-ubb-8gpu"), ("mi250x", "oam-ubb-8gpu"),
    ("mi210", "pcie-server-8gpu"),  # a PCIe card with an xGMI bridge, not an OAM module
    ("h100-sxm", "hgx-8gpu"), ("b200", "hgx-8gpu"), ("h20", "hgx-8gpu"),
    # NVIDIA modules by their NVLink interconnect in gpus.csv, whatever the id says
    ("b300", "hgx-8gpu"), ("h20-141gb", "hgx-8gpu"), ("a800-80gb", "hgx-8gpu"),
    ("h100-pcie", "pcie-server-8gpu"), ("h200-nvl", "pcie-server-8gpu"),  # PCIe cards with an NVLink bridge
    ("ascend-910b", "ascend-hccs-8npu"), ("ascend-910c", "cloudmatrix-384"),
])
def test_server_class_follows_the_accelerator_platform(gpu, cls):
    assert default_node_class(gpu, 8, "datacenter") == cls
    assert cls in load_prices().node_classes


def test_networks_by_platform():
    assert default_network("oam-ubb-8gpu", 2) == "ib-ndr-400g"  # one 400G rail per GPU, as 8-GPU boards are cabled
    assert default_network("cloudmatrix-384", 2) == "cloudmatrix-ub"
    assert default_network("oam-ubb-8gpu", 1) == "none"


def test_mi300x_bom_is_an_oam_platform_not_hgx():
    prices = load_prices()
    res = cost_of(CostInputs(gpu_id="mi300x", gpu_count=8, nodes=1, gpu_tdp_watts=750), prices)
    assert res.node_class == "oam-ubb-8gpu"
    bom = {i.kind: i for i in bill_of_materials(res, BomInputs(gpu_name="AMD Instinct MI300X", gpu_tdp_watts=750,
                                                               gpus_per_node=8), prices)}
    server, cooling = bom["server"].description, bom["cooling"].description
    assert "OAM" in server and "HGX" not in server and "NVSwitch" not in server
    assert "OAM" in cooling and "HGX" not in cooling
    # the server's base is Epoch's 8-GPU-server ratio, applied as an assumption and said so
    assert res.capex_nodes_usd == pytest.approx(0.38 * res.capex_gpus_usd)
    assert any(n.key == "cost.note_node_fraction" for n in res.assumptions)
    # its non-GPU watts are DGX H100's 4,600 W, an assumption cited in the sources: 8 × 750 W + 4,600 W at TDP
    assert bom["power"].quantity == pytest.approx((8 * 750 + 4600) / 1000)
    assert any("dgx-h100" in s for s in res.sources) and res.tco_usd is not None


def test_mi300x_bom_in_chinese():
    set_language("zh")
    prices = load_prices()
    res = cost_of(CostInputs(gpu_id="mi300x", gpu_count=8, nodes=1, gpu_tdp_watts=750), prices)
    bom = {i.kind: i for i in bill_of_materials(res, BomInputs(gpu_name="MI300X", gpu_tdp_watts=750,
                                                               gpus_per_node=8), prices)}
    assert "OAM" in bom["cooling"].description and "风冷" in bom["cooling"].description


def test_ascend_910c_is_priced_as_a_cloudmatrix_share():
    prices = load_prices()
    fact = prices.gpus["ascend-910c"].china
    assert fact.value == pytest.approx(CLOUDMATRIX_384_CNY / CLOUDMATRIX_384_CHIPS)  # 156,250 yuan
    res = cost_of(CostInputs(gpu_id="ascend-910c", gpu_count=16, nodes=2, currency="CNY", purchase="china"), prices)
    rate = prices.usd_to_cny.value
    # servers and the optical network are inside the per-chip price: capex = chips × share, nothing more
    assert res.capex_nodes_usd == 0.0 and res.capex_network_usd == 0.0 and res.network == "cloudmatrix-ub"
    assert res.capex_usd * rate == pytest.approx(16 * CLOUDMATRIX_384_CNY / CLOUDMATRIX_384_CHIPS)
    assert any(n.key == "money2.note_supernode_share" for n in res.assumptions)
    assert res.priced


def test_ascend_910b_server_stays_unknown():
    """Huawei publishes no Atlas 800 price and none was found: the 910B's card price alone does not price a server."""
    res = cost_of(CostInputs(gpu_id="ascend-910b", gpu_count=8, purchase="china", currency="CNY"), load_prices())
    assert res.node_class == "ascend-hccs-8npu"
    assert res.capex_usd is None and "server" in res.missing


def test_rtx_5060_ti_launch_price():
    fact = load_prices().gpus["rtx-5060-ti-16gb"].new
    assert fact.value == 429 and fact.unit == "USD" and fact.date == "2025-04"
