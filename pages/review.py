"""Weekly review: the capacity review meeting's report for one ISO week, with notes and exports."""

import streamlit as st

from connectors.store_notes import load_notes, save_note
from core.report import Week, build_report, export_zip, last_complete_week
from headroom.render import figure_for, render_html
from headroom.wiring import gather_review_inputs
from pages import _ui as ui

st.title("Weekly review")
cfg = ui.config()
db = ui.db()
latest = last_complete_week(ui.data_anchor())
weeks = [latest.shifted(-k).label for k in range(0, 5)]
if "review_week" not in st.session_state:
    wanted = st.query_params.get("week")
    st.session_state["review_week"] = wanted if wanted in weeks else weeks[0]
label = st.selectbox("ISO week", weeks, key="review_week", help="Monday 00:00 to Monday 00:00 UTC")
st.query_params["week"] = label
week = Week.parse(label)
st.caption(
    f"The capacity review for {week.label}: {week.start:%Y-%m-%d %H:%M} → {week.end:%Y-%m-%d %H:%M} UTC. "
    "Notes are saved with the week."
)

try:
    inputs = gather_review_inputs(
        cfg, ui.source("metrics"), ui.source("billing"), db, week, events_source=ui.source("events")
    )
except Exception as exc:  # a dead source: say which, keep the page
    st.error(f"⚠️ Could not read the data for {week.label}: {exc}")
    st.stop()
bar = st.progress(0.0, text="Assembling the report...")
report = build_report(inputs, week, progress=lambda f, text: bar.progress(f, text=text))
bar.empty()
notes = load_notes(db, week)

for section in report.sections:
    st.header(section.title, anchor=section.key)
    if section.missing:
        st.warning(section.missing)
    for line in section.summary:
        st.markdown(line)
    for k, fig in enumerate(section.figures):
        st.plotly_chart(figure_for(fig), width="stretch", key=f"review_{section.key}_fig_{k}")
    for name, table in section.tables.items():
        st.caption(name.replace("_", " "))
        ui.show_table(table, key=f"review_{section.key}_{name}")
    with st.form(key=f"review_notes_form_{section.key}", border=False):
        text = st.text_area(
            "Notes and decisions",
            value=notes.get(section.key, ""),
            key=f"review_note_{week.label}_{section.key}",
            height=80,
        )
        if st.form_submit_button("Save notes"):
            save_note(db, week, section.key, text, author=st.session_state.get("user_email", ""))
            notes[section.key] = text
            st.toast(f"Notes for '{section.title}' saved for {week.label}")

st.divider()
st.subheader("Export")
c1, c2 = st.columns(2)
c1.download_button(
    "⬇️ Report (self-contained HTML)",
    render_html(report, notes).encode("utf-8"),
    file_name=f"headroom-review-{week.label}.html",
    mime="text/html",
    key="review_download_html",
)
c2.download_button(
    "⬇️ Tables (ZIP of CSVs)",
    export_zip(report),
    file_name=f"headroom-review-{week.label}.zip",
    mime="application/zip",
    key="review_download_zip",
)
st.caption(
    f"Same file from a scheduled job: `python -m headroom review --week {week.label} --out report.html`"
)
