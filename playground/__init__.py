"""The MNIST Playground application without its web page.

What the page (``dashboard/``) shows and every visitor's actions rest on, in
plain Python: the run store (:mod:`playground.store`, SQLAlchemy), the
recorder that copies a training into it (:mod:`playground.recorder`), runs as
the page shows them and the rule that tells an interrupted one
(:mod:`playground.runs`), and a visitor's actions on their workspace
(:mod:`playground.workspace`), which return what to tell the visitor instead
of drawing it. Trainings themselves are ``mnist_core``'s. Nothing here
imports Streamlit.
"""
