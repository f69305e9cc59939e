"""Policy predicates (:mod:`kizuna.hub.policy`) as SQLite SQL over the ``objects`` table.

Policy names facts of an object version; this module alone knows which column holds each.
"""

from __future__ import annotations

from kizuna.hub.policy import AllOf, Compare, HasReadGrant, IsRecipient, Predicate

_COLUMNS = {
    "tlp": "tlp",
    "producer": "producer_org_id",
    "origin": "origin",
    "origin_hub": "origin_hub",
    "type": "type",
    "restricted": "restricted",
    "hops": "hops",
}


def to_sql(predicate: Predicate, alias: str = "o") -> tuple[str, list[object]]:
    """``(sql, parameters)`` true for the rows of ``objects AS alias`` the predicate admits."""
    if isinstance(predicate, Compare):
        column = f"{alias}.{_COLUMNS[predicate.fact]}"
        if predicate.op == "in":
            values: list[object] = (
                list(predicate.value) if isinstance(predicate.value, tuple) else [predicate.value]
            )
            if not values:
                return "0", []
            return f"{column} IN ({','.join('?' * len(values))})", values
        return f"{column} {predicate.op} ?", [predicate.value]
    if isinstance(predicate, HasReadGrant):
        return (
            "EXISTS (SELECT 1 FROM grants g WHERE g.collection_key = "
            f"{alias}.collection_key AND g.org_id = ? AND g.can_read = 1)",
            [predicate.org_id],
        )
    if isinstance(predicate, IsRecipient):
        return (
            f"EXISTS (SELECT 1 FROM recipients r WHERE r.object_added = {alias}.date_added AND r.org_id = ?)",
            [predicate.org_id],
        )
    joiner = " AND " if isinstance(predicate, AllOf) else " OR "
    if not predicate.parts:
        return ("1", []) if isinstance(predicate, AllOf) else ("0", [])
    sqls: list[str] = []
    params: list[object] = []
    for part in predicate.parts:
        sql, p = to_sql(part, alias)
        sqls.append(sql)
        params.extend(p)
    return "(" + joiner.join(sqls) + ")", params
