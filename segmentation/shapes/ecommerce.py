"""E-commerce customers: behavioural, demographic and RFM columns, one row per customer.

The columns of common e-commerce segmentation studies (other spellings are recognised and
renamed): total_spent, avg_order_value, number_of_orders, loyalty_points, support_tickets,
recency (days since the last order), tenure, age, income and the R/F/M scores 1-5. The model
clusters on behaviour; age, income and the scores are profiled per segment. With R/F/M scores
(given, or computed from recency, number_of_orders and total_spent as for a purchase log) each
customer also gets its named RFM segment in ``rfm_segment``.
"""

from __future__ import annotations

from .base import Panel
from .rfm import RfmTable, rfm_scores
from .table import Bound, TableFeatureSet

SCHEMA = {
    "total_spent": ("totalspend", "totalspending", "totalamountspent", "lifetimevalue", "totalrevenue"),
    "avg_order_value": ("averageordervalue", "aov", "avgorder", "averageorder"),
    "number_of_orders": ("numorders", "ordercount", "totalorders", "orders", "numberofpurchases", "purchasecount"),
    "loyalty_points": ("points", "loyaltypoint", "rewardpoints"),
    "support_tickets": ("tickets", "supportcalls", "complaints", "numberofcomplaints"),
    "recency": ("recencydays", "dayssincelastpurchase", "dayssincelastorder", "lastpurchasedaysago"),
    "tenure": ("tenuredays", "tenuremonths", "customertenure", "membershipdays"),
    "age": ("customerage",),
    "income": ("annualincome", "yearlyincome"),
    "r_score": ("rscore", "recencyscore"),
    "f_score": ("fscore", "frequencyscore"),
    "m_score": ("mscore", "monetaryscore"),
}
BEHAVIOUR = (
    "total_spent",
    "avg_order_value",
    "number_of_orders",
    "loyalty_points",
    "support_tickets",
    "recency",
    "tenure",
)


class Ecommerce(TableFeatureSet):
    name = "ecommerce"
    title = "e-commerce customers"
    schema = SCHEMA
    min_match = 5
    bounds = {
        **{c: Bound(low=0) for c in (*BEHAVIOUR, "income")},
        "age": Bound(low=0, high=120),
        **{c: Bound(low=1, high=5) for c in ("r_score", "f_score", "m_score")},
    }
    model_features = BEHAVIOUR
    panels = {
        "amount": Panel("avg_order_value", "Avg order value", "money"),
        "count": Panel("number_of_orders", "Orders", "count"),
        "total": Panel("total_spent", "Total spent", "money"),
        "mean": Panel("recency", "Avg recency", "number"),
        "box": Panel("recency", "Recency", "number"),
    }

    def derive(self, customers, report, notices, options):
        scores = ["r_score", "f_score", "m_score"]
        if not set(scores) <= set(customers) and {"recency", "number_of_orders", "total_spent"} <= set(customers):
            computed = rfm_scores(customers)
            for name in scores:
                customers[name] = computed[name]
            notices.append("r_score, f_score, m_score: computed from recency, number_of_orders, total_spent (quintiles)")
        if set(scores) <= set(customers) and customers[scores].notna().all().all():
            customers["rfm_segment"] = RfmTable.load(options.rfm_rules).name(*(customers[s] for s in scores)).to_numpy()
        return customers
