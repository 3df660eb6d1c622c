"""`dltricks report`: read the files runs leave into a table, plots and a diagnosis.

Never imports torch: it reads CSV and JSON only, and instantiates nothing.
"""
