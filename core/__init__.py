"""Pure domain code: no Streamlit import, testable as plain Python."""
