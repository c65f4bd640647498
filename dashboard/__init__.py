"""Helpers of the Streamlit page (streamlit_app.py): settings, runs, charts.

Layout and widgets stay in the page; every computation is a mnist_core call.
"""
