"""Your handwriting: teach the model your own (drawn examples, a fine-tune) and read photos of it.

A shared run's viewer reads photos with its model; teaching needs a workspace of one's own.
"""

from dashboard import navigation, session
from dashboard.handwriting import handwriting_section
from dashboard.upload import upload_section

navigation.follow_runs()
if session.visitor().shared is None:
    handwriting_section()
upload_section()
