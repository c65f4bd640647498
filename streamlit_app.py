"""MNIST Playground: the page. (Under construction: the engine is mnist_core.)"""

import streamlit as st

st.set_page_config(page_title="MNIST Playground", page_icon="✏️")
st.title("MNIST Playground")
st.write("The dashboard is being built; meanwhile `python -m mnist_core` runs the tutorial in a terminal.")
