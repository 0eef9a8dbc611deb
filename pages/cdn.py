"""CDN: hit ratio per region against the configured target, origin offload, bandwidth and error rates,
with the dips below target explained by the incidents and changes recorded in the store."""

import math

import pandas as pd
import streamlit as st

from core.cdn import BITS_PER_BYTE, CDN_METRICS, cdn_overall, cdn_summary, hit_ratio_dips, offload_wide
from core.slo import deploy_markers
from core.timeseries import pivot_metric, ratio
from pages import _ui as ui

start, end = ui.page_header("CDN", "CDN hit ratio, origin offload, bandwidth and error rates by region")
cfg = ui.config()
target = cfg.cdn.hit_ratio_target
regions = ui.selected_regions()
cdn = ui.load_metrics(CDN_METRICS, start, end, regions, kind="cdn")
if cdn.empty:
    st.info("No CDN data for this range and these regions.")
    st.stop()
# the states below are judged on the data there is: say when it stops before the end of the range
ui.state_as_of(end, pd.Timestamp(cdn["ts"].max()).to_pydatetime(), "Hit ratios and states")
api = ui.load_metrics(("requests_per_second", "errors_per_second"), start, end, regions)
# incidents and changes from the store, plus deploys annotated in the config: what explains the dips
marks = pd.concat([ui.events(start, end), deploy_markers(cfg.deploy, start, end)], ignore_index=True)


# the range figures are pure functions of the loaded frame: computed once per frame and target, shared by
# reruns and sessions (~0.3 s a rerun on the demo default)
@st.cache_data(ttl=ui.CACHE_TTL_S, max_entries=16, show_spinner=False)
def _range_figures(
    frame: pd.DataFrame, hit_target: float, shown_regions: tuple[str, ...]
) -> tuple[dict, pd.DataFrame]:
    return cdn_overall(frame, hit_target), cdn_summary(frame, hit_target, list(shown_regions))


# ---- tiles -------------------------------------------------------------------------------------
overall, summary = _range_figures(cdn, target, tuple(regions))


def shown(value: float, fmt: str) -> str:
    """A tile value, or 'n/a' when the source does not report the metric behind it."""
    return "n/a" if math.isnan(value) else fmt.format(value)


t1, t2, t3, t4 = st.columns(4)
t1.metric(
    "Hit ratio (all regions)",
    shown(overall["hit_ratio"] * 100, "{:.1f}%"),
    None
    if math.isnan(overall["hit_ratio"])
    else f"{(overall['hit_ratio'] - target) * 100:+.1f} pts vs target",
    help="Weighted by CDN requests",
)
t2.metric("Regions meeting the target", f"{overall['regions_ok']:.0f} of {overall['regions']:.0f}")
t3.metric(
    "Origin offload",
    shown(overall["offload"] * 100, "{:.1f}%"),
    help="Share of edge bytes not fetched from origin (needs cdn_bytes_origin_per_second)",
)
tile_unit, tile_factor = ui.bit_rate_unit([overall["edge_gbps_mean"]])
t4.metric("Edge bandwidth (mean)", shown(overall["edge_gbps_mean"] * tile_factor, "{:,.2f} " + tile_unit))
st.caption(f"Target hit ratio {target * 100:.0f}% (`[cdn] hit_ratio_target` in the config).")

# ---- per region --------------------------------------------------------------------------------
table_unit, table_factor = ui.bit_rate_unit(summary["edge_gbps_peak"])
ui.data_table(
    summary.assign(
        edge_gbps_mean=summary["edge_gbps_mean"] * table_factor,
        edge_gbps_peak=summary["edge_gbps_peak"] * table_factor,
        origin_gbps_mean=summary["origin_gbps_mean"] * table_factor,
        state=summary["meets_target"].map({True: "🟢 meets target", False: "🔴 below target"}),
        hit_ratio=summary["hit_ratio"] * 100,
        min_hit_ratio=summary["min_hit_ratio"] * 100,
        below_target_share=summary["below_target_share"] * 100,
        offload=summary["offload"] * 100,
    )[
        [
            "state",
            "region",
            "hit_ratio",
            "min_hit_ratio",
            "below_target_share",
            "offload",
            "edge_gbps_mean",
            "edge_gbps_peak",
            "origin_gbps_mean",
        ]
    ],
    key="cdn_summary",
    columns={
        "state": "State",
        "region": "Region",
        "hit_ratio": ui.number_column("Hit ratio %", 2, help="Weighted by CDN requests"),
        "min_hit_ratio": ui.number_column("Lowest %"),
        "below_target_share": ui.number_column("Time below target %"),
        "offload": ui.number_column("Origin offload %", 2),
        "edge_gbps_mean": ui.number_column(f"Edge {table_unit} (mean)", 2),
        "edge_gbps_peak": ui.number_column(f"Edge {table_unit} (peak)", 2),
        "origin_gbps_mean": ui.number_column(f"Origin {table_unit} (mean)", 2),
    },
)

hit_fig = ui.timeseries_figure(
    cdn, "cdn_hit_ratio", "Cache hit ratio", "% of CDN requests", scale=100, marks=marks
)
hit_fig.add_hline(y=target * 100, line_dash="dash", line_color="#c62828", annotation_text="target")
st.plotly_chart(hit_fig, width="stretch", key="cdn_hit_ratio")

# ---- dips and what explains them ---------------------------------------------------------------
dips = hit_ratio_dips(cdn, target, marks)
st.subheader(f"Dips below {target * 100:.0f}% ({len(dips)})")
if dips.empty:
    st.caption("The hit ratio stayed at or above the target in every selected region.")
else:
    ui.data_table(
        dips.assign(
            lowest=dips["lowest"] * 100,
            explained_by=dips["explained_by"].replace("", "— no recorded incident or change"),
        ),
        key="cdn_dips",
        columns={
            "region": "Region",
            "start": ui.utc_time_column("From (UTC)"),
            "end": ui.utc_time_column("To (UTC)"),
            "minutes": ui.number_column("Minutes", 0),
            "lowest": ui.number_column("Lowest %"),
            "explained_by": "Explained by",
        },
    )

# ---- offload, bandwidth, errors ----------------------------------------------------------------
c1, c2 = st.columns(2)
c1.plotly_chart(
    ui.timeseries_figure(
        cdn,
        "cdn_bytes_edge_per_second",
        "Origin offload (edge bytes not fetched from origin)",
        "% of edge bytes",
        wide=offload_wide(cdn) * 100,
        marks=marks,
    ),
    width="stretch",
    key="cdn_offload",
)
error_pct = ratio(pivot_metric(api, "errors_per_second"), pivot_metric(api, "requests_per_second")) * 100
c2.plotly_chart(
    ui.timeseries_figure(
        api,
        "errors_per_second",
        "Origin (API) error rate, 5xx share",
        "% of requests",
        wide=error_pct,
        marks=marks,
    ),
    width="stretch",
    key="cdn_errors",
)
c3, c4 = st.columns(2)
gbps = BITS_PER_BYTE / 1e9
edge_bytes = cdn.loc[cdn["metric"] == "cdn_bytes_edge_per_second", "value"]
chart_unit, chart_factor = ui.bit_rate_unit(edge_bytes * gbps)
c3.plotly_chart(
    ui.timeseries_figure(
        cdn, "cdn_bytes_edge_per_second", "Edge bandwidth", chart_unit, scale=gbps * chart_factor, marks=marks
    ),
    width="stretch",
    key="cdn_edge_bw",
)
c4.plotly_chart(
    ui.timeseries_figure(
        cdn,
        "cdn_bytes_origin_per_second",
        "Origin bandwidth (cache fills)",
        chart_unit,
        scale=gbps * chart_factor,
        marks=marks,
    ),
    width="stretch",
    key="cdn_origin_bw",
)


# ---- CloudFront 4xx / 5xx error rates (issue 18: fetched by the CloudWatch source, shown here) ----------
def cdn_error_rates() -> None:
    """The CDN's own 4xx and 5xx error rates per region (request-weighted over the distributions)."""
    st.subheader("CDN error rates (4xx / 5xx)")
    if cfg.sources.cdn != "cloudwatch":
        st.caption(
            'CloudFront\'s 4xx and 5xx error rates come from CloudWatch (`[sources] cdn = "cloudwatch"`); '
            "this CDN source does not report them. The API's 5xx share is on Overview and SLOs."
        )
        return
    errors = ui.load_metrics(("cdn_4xx_error_ratio", "cdn_5xx_error_ratio"), start, end, regions, kind="cdn")
    if errors.empty:
        st.caption("No CDN error-rate data for this range and these regions.")
        return
    e1, e2 = st.columns(2)
    for column, metric, title in (
        (e1, "cdn_4xx_error_ratio", "CDN 4xx error rate"),
        (e2, "cdn_5xx_error_ratio", "CDN 5xx error rate"),
    ):
        column.plotly_chart(
            ui.timeseries_figure(errors, metric, title, "% of requests", scale=100, marks=marks),
            width="stretch",
            key=f"cdn_{metric}",
        )


cdn_error_rates()
