"""How the portal writes things for people: one module per kind, used by every page and export.

- `names`: one display name per thing (a model from its id or ledger SKU, a key, Venice's enum
  values), with the raw id kept for where people copy it;
- `numbers`: one money format per currency, unit counts at their real scale;
- `dates`: one date format for tables and one for prose, in the viewer's time zone;
- `audit`: each audit record as a sentence.

Templates reach these through `{% load portal_format %}` (accounts/templatetags/portal_format.py);
Python code imports them. Nothing here calls Venice or the database.
"""
