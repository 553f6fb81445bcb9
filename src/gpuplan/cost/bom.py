"""The bill of materials of a deployment: what surrounds the GPUs, each line sized by a stated rule (DESIGN §7).

Lines: GPUs, servers (the node class's base price covers chassis, CPUs, RAM, NVMe, NICs and PSUs of its reference
configuration, so those lines say ``included_in = "server"`` instead of a price of their own), CPUs, RAM, NVMe,
scale-out network, power and cooling. Prices come from the :class:`CostResult` (same facts as capex) and are shown
in the result's currency; a price nobody sourced stays ``None``.

Rules and their sources:

- PCIe lanes: 16 per GPU and 16 per scale-out NIC; one AMD EPYC 9004 socket provides 128 PCIe 5.0 lanes
  (https://www.amd.com/en/products/processors/server/epyc/4th-generation-9004-and-8004-series.html), so nodes with
  more than 4 GPUs take two sockets (and PCIe switches, as HGX baseboards have).
- Host RAM ≥ the weights the node loads (vLLM and SGLang read safetensors through host memory; llama.cpp mmaps the
  GGUF file) + experts kept in host RAM, rounded up to the next power-of-two GiB.
- NVMe ≥ twice the checkpoint (the running version and the next one), in whole TB; load time at the sequential read
  of a PCIe 4.0 NVMe drive, 7.45 GB/s (Samsung 990 PRO datasheet,
  https://semiconductor.samsung.com/consumer-storage/internal-ssd/990-pro/).
- Scale-out: one NIC and one switch port per GPU (rail-optimized fabric, as DGX H100 has 8 × 400 Gb/s ConnectX-7
  for 8 GPUs: https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/nvidia-dgx-h100-datasheet.pdf).
- Power at TDP: GPUs × TDP + the node's non-GPU watts; PSU/PDU capacity ≥ 125% of that continuous load (NFPA 70,
  National Electrical Code 210.19(A)/210.20(A): continuous loads at 125%).
- Heat = IT power (every watt drawn becomes heat; 1 kW = 3,412 BTU/h). GPUs of 700–1,000 W are air-cooled only in
  purpose-built 8-GPU baseboard chassis (AMD's 8 × MI300X OAM platform runs air-cooled: MLCommons Inference v4.1,
  closed/AMD/systems/8xMI300X_2xEPYC-9374F.json, "cooling": "Air-cooled"), as HGX ones (DGX H100: 8U, air, ~10.2 kW; DGX B200: 10U, air, ~14.3 kW:
  https://docs.nvidia.com/dgx/dgxb200-user-guide/introduction-to-dgxb200.html); above 1,000 W (GB200/GB300) liquid
  cooling is required (GB200 NVL72 is a liquid-cooled rack: https://www.nvidia.com/en-us/data-center/gb200-nvl72/).
"""

from __future__ import annotations

import math

from gpuplan.catalog.prices import PriceBook
from gpuplan.cost.model import CostResult, gpu_price_fact
from gpuplan.cost.summary import in_currency
from gpuplan.i18n import t
from gpuplan.planfile import BomItem
from gpuplan.records import Record, record
from gpuplan.units import GB, GIB, KILO, TERA

PCIE_LANES_PER_GPU = 16
PCIE_LANES_PER_SOCKET = 128  # AMD EPYC 9004 (see module docstring)
NVME_READ_BYTES_PER_S = 7.45 * GB  # Samsung 990 PRO sequential read
CONTINUOUS_LOAD_FACTOR = 1.25  # NEC 210.19(A)/210.20(A)
BTU_PER_HOUR_PER_KW = 3412.14
AIR_LIMIT_WATTS = 700  # at and above: HGX-class chassis or liquid
LIQUID_REQUIRED_ABOVE_WATTS = 1000


@record
class BomInputs(Record):
    """What the bill of materials needs beyond the cost result: the GPU and the bytes the deployment loads."""

    gpu_name: str
    gpu_tdp_watts: float | None
    gpus_per_node: int
    checkpoint_bytes: int | None = None
    host_bytes_per_node: int = 0


def _next_pow2_gib(nbytes: float) -> int:
    gib = max(nbytes / GIB, 1.0)
    return 2 ** math.ceil(math.log2(gib))


def bill_of_materials(result: CostResult, x: BomInputs, prices: PriceBook,
                      lang: str | None = None) -> tuple[BomItem, ...]:
    """The lines of the bill of materials, money in ``result.currency`` (see the module docstring for the rules)."""
    cur, rate = result.currency, result.usd_to_cny

    def money(usd: float | None) -> float | None:
        return in_currency(usd, cur, rate)

    def each(total_usd: float | None, n: int) -> float | None:
        return None if total_usd is None or n <= 0 else money(total_usd / n)

    nodes, per_node, count = result.nodes, x.gpus_per_node, result.gpu_count
    node_class = prices.node_class(result.node_class)
    items: list[BomItem] = []

    kind, fact = gpu_price_fact(prices, result.gpu_id, result.purchase)
    items.append(BomItem(
        kind="gpu", description=x.gpu_name, quantity=count, unit_price=each(result.capex_gpus_usd, count),
        total=money(result.capex_gpus_usd),
        # the market in words ("新卡" under --lang zh, not the flag value "new")
        rule=t("money.bom_rule_gpu", lang=lang, kind=t(f"qa.price_kind_{kind or result.purchase}", lang=lang)) if fact else
        t("money.bom_unknown", lang=lang),
        source=f"{fact.source} ({fact.date})" if fact else None))

    units = node_class.rack_units
    base = node_class.base or node_class.base_fraction_of_gpu_cost
    if node_class.included_in_gpu_price:
        items.append(BomItem(kind="server", description=f"{node_class.id}: {_node_text(node_class, lang)}", quantity=nodes,
                             included_in="gpu", rule=t("money.bom_rule_whole_system", lang=lang)))
    else:
        items.append(BomItem(
            kind="server", description=f"{node_class.id}: {_node_text(node_class, lang)}", quantity=nodes,
            unit_price=each(result.capex_nodes_usd, nodes), total=money(result.capex_nodes_usd),
            rule=(t("money.bom_rule_server_rack", lang=lang, u=f"{units.value:g}", total=f"{units.value * nodes:g}")
                  if units else t("money.bom_rule_server", lang=lang)),
            source=f"{base.source} ({base.date})" if base else None))

    nics = count if nodes > 1 else 0
    lanes = PCIE_LANES_PER_GPU * (per_node + (per_node if nics else 0))
    sockets = 1 if lanes <= PCIE_LANES_PER_SOCKET else 2
    items.append(BomItem(
        kind="cpu", description=t("money.bom_cpu", lang=lang, sockets=sockets), quantity=sockets * nodes,
        unit="sockets", included_in="server",
        rule=t("money.bom_rule_cpu", lang=lang, lanes=lanes, per_socket=PCIE_LANES_PER_SOCKET)))

    weights_per_node = x.checkpoint_bytes / nodes if x.checkpoint_bytes and nodes > 1 else (x.checkpoint_bytes or 0)
    ram_gib = _next_pow2_gib(weights_per_node + x.host_bytes_per_node)
    items.append(BomItem(
        kind="ram", description=t("money.bom_ram", lang=lang, gib=ram_gib), quantity=ram_gib * nodes, unit="GiB",
        included_in="server",
        rule=t("money.bom_rule_ram", lang=lang, weights=f"{weights_per_node / GIB:,.0f}",
               host=f"{x.host_bytes_per_node / GIB:,.0f}", gib=ram_gib)))

    if x.checkpoint_bytes:
        tb = max(1, math.ceil(2 * x.checkpoint_bytes / TERA))
        load_s = x.checkpoint_bytes / NVME_READ_BYTES_PER_S
        items.append(BomItem(
            kind="storage", description=t("money.bom_nvme", lang=lang, tb=tb), quantity=tb * nodes, unit="TB",
            included_in="server",
            rule=t("money.bom_rule_nvme", lang=lang, gb=f"{x.checkpoint_bytes / GB:,.0f}", s=f"{load_s:,.0f}")))

    if nodes > 1:
        items.append(BomItem(
            kind="network", description=t("money.bom_network", lang=lang, network=result.network), quantity=nics,
            unit="ports", unit_price=each(result.capex_network_usd, nics), total=money(result.capex_network_usd),
            rule=t("money.bom_rule_network", lang=lang, nics=nics, ports=nics)))
    else:
        items.append(BomItem(kind="network", description=t("money.bom_network_none", lang=lang), quantity=0,
                             unit="ports", total=money(0.0), rule=t("money.bom_rule_network_none", lang=lang)))

    base_watts = node_class.base_watts.value if node_class.base_watts else None
    if x.gpu_tdp_watts is not None:
        it_node_w = per_node * x.gpu_tdp_watts + (base_watts or 0.0)
        total_kw = it_node_w * nodes / KILO
        items.append(BomItem(
            kind="power", description=t("money.bom_power", lang=lang, kw=_kw(it_node_w / KILO),
                                        psu=_kw(it_node_w * CONTINUOUS_LOAD_FACTOR / KILO)),
            quantity=round(total_kw, 3), unit="kW", included_in="server",
            rule=t("money.bom_rule_power" if base_watts is not None else "money.bom_rule_power_no_base", lang=lang,
                   gpus=per_node, tdp=f"{x.gpu_tdp_watts:,.0f}", base=f"{base_watts or 0:,.0f}")))
        if x.gpu_tdp_watts > LIQUID_REQUIRED_ABOVE_WATTS:
            key = "money.bom_cooling_liquid"
        elif x.gpu_tdp_watts >= AIR_LIMIT_WATTS:
            key = "money2.bom_cooling_oam" if result.node_class == "oam-ubb-8gpu" else "money.bom_cooling_hgx"
        else:
            key = "money.bom_cooling_air"
        items.append(BomItem(
            kind="cooling", description=t(key, lang=lang), quantity=round(total_kw, 3), unit="kW",
            rule=t("money.bom_rule_cooling", lang=lang, kw=_kw(total_kw),
                   btu=f"{total_kw * BTU_PER_HOUR_PER_KW:,.0f}", tdp=f"{x.gpu_tdp_watts:,.0f}")))
    return tuple(items)


def _kw(kw: float) -> str:
    """Kilowatts for a sentence: one decimal from 1 kW, two significant digits below (a 25 W Jetson printed "0.0 kW")."""
    return f"{kw:,.1f}" if kw >= 1 else f"{kw:.2g}"


def _node_text(node_class, lang: str | None) -> str:
    """The server class in the user's language: qa.toml ``node_<id>`` (its English text equals the price data's
    description, tests/test_qa_newuser.py checks it), else the data's description for a class without a message."""
    key = "qa.node_" + node_class.id.replace("-", "_")
    text = t(key, lang=lang)  # reads the qa area only (i18n.catalog would parse every message file: 50 ms a plan)
    return node_class.description if text == key else text
