"""Weekly review: the capacity review meeting's report for one ISO week, with notes and exports."""

from datetime import datetime

import streamlit as st

from connectors.store_notes import NoteRefused, load_notes, note_authors, record_note
from core.auth import allowed, role_of
from core.config import config_path
from core.report import Week, build_report, export_zip, last_complete_week, review_data_version
from headroom.render import column_label, figure_for, readable_table, render_html
from headroom.wiring import gather_review_inputs
from pages import _ui as ui

REVIEW_TTL_S = 600

st.title("Weekly review")
cfg = ui.config()
db = ui.db()
latest = last_complete_week(ui.data_anchor())
weeks = [latest.shifted(-k).label for k in range(0, 5)]
if "review_week" not in st.session_state:
    wanted = st.query_params.get("week")
    if wanted and wanted not in weeks:
        ui.bad_url_value(
            "week", wanted, weeks[0], f"one of the last five complete weeks, {weeks[-1]} to {weeks[0]}"
        )
    st.session_state["review_week"] = wanted if wanted in weeks else weeks[0]
label = st.selectbox("ISO week", weeks, key="review_week", help="Monday 00:00 to Monday 00:00 UTC")
st.query_params["week"] = label
week = Week.parse(label)
st.caption(
    f"The capacity review for {week.label}: {week.start:%Y-%m-%d %H:%M} → {week.end:%Y-%m-%d %H:%M} UTC. "
    "Notes are saved with the week."
)


# Built once per week and data (the newest data point and the config stand for the inputs), shared by
# every rerun: saving a note or clicking a download used to gather and build the whole review again.
@st.cache_resource(ttl=REVIEW_TTL_S, max_entries=8, show_spinner=False)
def _built_review(week_label: str, regions: tuple[str, ...], anchor: datetime, config_mtime: float):
    week = Week.parse(week_label)
    inputs = gather_review_inputs(
        cfg,
        ui.source("metrics"),
        ui.source("billing"),
        db,
        week,
        shared=ui.shared_store(),
        events_source=ui.source("events"),
    )
    return build_report(inputs, week)


@st.cache_data(ttl=REVIEW_TTL_S, max_entries=16, show_spinner=False)
def _downloads(
    week_label: str, anchor: datetime, config_mtime: float, notes: tuple[tuple[str, str], ...], _report
) -> tuple[bytes, bytes]:
    """The HTML and the ZIP of the cached build, rendered again only when the notes change."""
    return render_html(_report, dict(notes)).encode("utf-8"), export_zip(_report, dict(notes))


try:
    config_mtime = config_path().stat().st_mtime
except OSError:
    config_mtime = 0.0
anchor = review_data_version(week, ui.data_anchor())
# the week defines the data (its four weeks of history, SLO minutes, bill and stored records)
report = ui.load_last_good(
    ("review", week.label, tuple(cfg.region_codes)),
    lambda: _built_review(week.label, tuple(cfg.region_codes), anchor, config_mtime),
    lambda: None,
    "the review's data sources",
    what=f"the review for {week.label} (built once per week and data)",
)
if report is None:  # a dead source and nothing read earlier for this week: the banner says which
    st.stop()
notes = load_notes(ui.shared_store(), week)
authors = note_authors(ui.shared_store(), week)
# recorded decisions: only signed-in operators and above may write them (the save is audited)
me = ui.current_identity()
role = role_of(me, cfg.user)
may_write = me.signed_in and allowed(role, "propose")
if not may_write:
    who = "you are not signed in" if not me.signed_in else f"your role is {role}"
    st.info(f"Notes are read-only here: {who}. Operators, approvers and admins can record decisions.")

for section in report.sections:
    st.header(section.title, anchor=section.key)
    if section.missing:
        st.warning(section.missing)
    for line in section.summary:
        st.markdown(line)
    for k, fig in enumerate(section.figures):
        st.plotly_chart(figure_for(fig), width="stretch", key=f"review_{section.key}_fig_{k}")
    for name, table in section.tables.items():
        st.caption(column_label(name))
        ui.data_table(readable_table(table), key=f"review_{section.key}_{name}")
    with st.form(key=f"review_notes_form_{section.key}", border=False):
        text = st.text_area(
            "Notes and decisions",
            value=notes.get(section.key, ""),
            key=f"review_note_{week.label}_{section.key}",
            height=80,
            disabled=not may_write,
        )
        if authors.get(section.key):
            st.caption(f"Last saved by {ui.md_text(authors[section.key])}")
        if st.form_submit_button("Save notes", disabled=not may_write):
            try:  # core rechecks the role and audits the save (or the refusal)
                record_note(ui.shared_store(), week, section.key, text, me, role)
            except NoteRefused as exc:
                st.error(f"⛔ {ui.md_text(exc.message)}")
            else:
                notes[section.key] = text
                authors[section.key] = me.email
                st.toast(f"Notes for '{section.title}' saved for {week.label}")

st.divider()
st.subheader("Export")
html_bytes, zip_bytes = _downloads(week.label, anchor, config_mtime, tuple(sorted(notes.items())), report)
c1, c2 = st.columns(2)
c1.download_button(
    "⬇️ Report (self-contained HTML)",
    html_bytes,
    file_name=f"headroom-review-{week.label}.html",
    mime="text/html",
    key="review_download_html",
)
c2.download_button(
    "⬇️ Tables and notes (ZIP of CSVs)",
    zip_bytes,
    file_name=f"headroom-review-{week.label}.zip",
    mime="application/zip",
    key="review_download_zip",
)
st.caption(
    f"Same file from a scheduled job: `python -m headroom review --week {week.label} --out report.html`"
)
