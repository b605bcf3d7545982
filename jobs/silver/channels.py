"""Channel grouping of an event from its campaign tags and referrer, as one Spark expression.

The rules (conf ``silver.channels``), tried in this order; the first that matches wins:

1. ``paid_social``    utm_medium is a paid medium and utm_source is a social source (or the
                      medium itself is ``paid_social``).
2. ``display``        utm_medium is a display medium (``display_mediums``, default display, cpm).
3. ``paid_search``    utm_medium is any other paid medium (a search engine's or anyone else's ads).
4. ``email``          utm_medium is an e-mail medium.
5. ``affiliate``      utm_medium is an affiliate medium.
6. ``organic_social`` utm_medium is a social medium (``social_mediums``, default social), or
                      utm_source is a social source, or the referrer host is a social site.
7. ``organic_search`` utm_source is a search engine, or the referrer host is one.
8. ``referral``       any other referrer host that is not the shop itself.
9. ``direct``         everything else, including tags the rules do not know (e.g. push
                      notifications) and referrers from the shop's own pages.

Paid beats organic because a paid click also carries a referrer (google.com for a search ad).
A "social site" or "search engine" host has the configured name as one of its labels followed
only by a public suffix: ``m.facebook.com``, ``www.google.co.id``, ``x.com`` and ``line.me``
match, ``google.example.com`` does not. A referrer is the shop itself when its host equals the
page's host or is one of ``own_hosts`` (or a subdomain of one).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F

PAID_SOCIAL_MEDIUM = "paid_social"
# Second levels under country domains that are public suffixes (co.id, com.au, ac.id, or.id, ...).
SECOND_LEVELS = ("co", "com", "net", "org", "ac", "or", "go", "gov", "edu", "web", "my", "biz", "ne")

CHANNELS = (
    "paid_social",
    "display",
    "paid_search",
    "email",
    "affiliate",
    "organic_social",
    "organic_search",
    "referral",
    "direct",
)


def normalise_tag(col: Column) -> Column:
    """A campaign tag lower-cased and trimmed; empty becomes null."""
    return F.nullif(F.lower(F.trim(col)), F.lit(""))


def url_host(col: Column) -> Column:
    """Lower-cased host of a URL, null when the URL is null, unparseable or has no host."""
    return F.nullif(F.lower(F.try_parse_url(col, F.lit("HOST"))), F.lit(""))


def _names(values: Iterable[Any]) -> list[str]:
    return sorted({str(v).strip().lower() for v in values if str(v).strip()})


def host_matches(host: Column, names: Iterable[Any]) -> Column:
    """True when one label of ``host`` is one of ``names``, followed only by a public suffix."""
    alternatives = "|".join(re.escape(n) for n in _names(names))
    if not alternatives:
        return F.lit(False)
    # name + a top-level domain or a country's second level: google.com, www.google.co.id, line.me.
    suffix = rf"([a-z]{{2,6}}|({'|'.join(SECOND_LEVELS)})\.[a-z]{{2}})"
    return F.coalesce(host.rlike(rf"(^|\.)({alternatives})\.{suffix}$"), F.lit(False))


def _in(col: Column, values: Iterable[Any]) -> Column:
    names = _names(values)
    return F.coalesce(col.isin(names), F.lit(False)) if names else F.lit(False)


def channel_expr(
    params: Mapping[str, Any],
    utm_source: Column | None = None,
    utm_medium: Column | None = None,
    referrer_host: Column | None = None,
    page_host: Column | None = None,
) -> Column:
    """The channel of each row, from ``params["channels"]`` (``params`` = conf ``silver``).

    Reads columns ``utm_source``, ``utm_medium``, ``referrer_host`` and the host of ``page_url``
    unless other columns are given. Never null.
    """
    rules = params["channels"]
    source = normalise_tag(utm_source if utm_source is not None else F.col("utm_source"))
    medium = normalise_tag(utm_medium if utm_medium is not None else F.col("utm_medium"))
    ref = F.lower(referrer_host if referrer_host is not None else F.col("referrer_host"))
    page = F.lower(page_host if page_host is not None else url_host(F.col("page_url")))

    internal = F.coalesce(ref == page, F.lit(False))
    for own in _names(rules.get("own_hosts") or []):
        internal = internal | F.coalesce((ref == own) | ref.endswith("." + own), F.lit(False))

    paid = _in(medium, rules["paid_mediums"]) | F.coalesce(medium == PAID_SOCIAL_MEDIUM, F.lit(False))
    social_source = _in(source, rules["social_sources"])
    social_ref = host_matches(ref, rules["social_sources"])
    search_ref = host_matches(ref, rules["search_engines"])
    return (
        F.when(paid & (social_source | F.coalesce(medium == PAID_SOCIAL_MEDIUM, F.lit(False))), "paid_social")
        .when(paid & _in(medium, rules["display_mediums"]), "display")
        .when(paid, "paid_search")
        .when(_in(medium, rules["email_mediums"]), "email")
        .when(_in(medium, rules["affiliate_mediums"]), "affiliate")
        .when(_in(medium, rules["social_mediums"]) | social_source, "organic_social")
        .when(social_ref & ~internal, "organic_social")
        .when(_in(source, rules["search_engines"]) | (search_ref & ~internal), "organic_search")
        .when(ref.isNotNull() & ~internal, "referral")
        .otherwise("direct")
    )
