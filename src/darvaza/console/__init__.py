"""The console's foundation, a layer below the domains: one layout, the person's language
and its formats, forms, navigation, and the catalogs. Each domain's `pages.py` builds its
own pages on it."""
