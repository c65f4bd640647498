"""The Streamlit page (streamlit_app.py) and nothing else: one module per section, each visitor's session (the
address, notices, their actions' wrappers), the resources shared once per server, the model that reads drawings.

Rules and state live in ``playground`` (the application without its page); every computation is a mnist_core call.
"""
