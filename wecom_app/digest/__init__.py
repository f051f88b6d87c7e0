"""The periodic summary to leadership (R6): a weekly and a monthly digest.

`period.py` (which week or month, and when it is due, in company time), `figures.py`
(the figures of a digest and the dashboard's weekly trends), `send.py` (the card to
the office and the leaders, once per period: the `digest` job), `pdf.py` (the digest
as a PDF with the embedded Chinese font). The workbench page is workbench/digest.py.
"""
