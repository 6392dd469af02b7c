"""What the seeded shop sells and sends: products, Klaviyo lists and metrics, e-mail subjects.

Fixed values shared by every seeding run, so the same ids appear whatever the seed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sandbox.klaviyo_state import KList, Metric

#: All seeded timestamps lie before this moment.
REFERENCE_TIME = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

NEWSLETTER_LIST = KList("UxN3kp", "Newsletter", REFERENCE_TIME - timedelta(days=900))
VIP_LIST = KList("Rk7vQ2", "VIP Customers", REFERENCE_TIME - timedelta(days=700))
BACK_IN_STOCK_LIST = KList("Hm4bT9", "Back in Stock", REFERENCE_TIME - timedelta(days=500))
WINBACK_LIST = KList("Wd8sLe", "Winback", REFERENCE_TIME - timedelta(days=300))
KLAVIYO_LISTS = (NEWSLETTER_LIST, VIP_LIST, BACK_IN_STOCK_LIST, WINBACK_LIST)
METRICS = (
    Metric("Y7PlcO", "Placed Order", "Shopify"),
    Metric("Vw3OpE", "Opened Email", "Klaviyo"),
    Metric("Ck9ClE", "Clicked Email", "Klaviyo"),
    Metric("Pv2VwP", "Viewed Product", "Shopify"),
    Metric("Rc5RcE", "Received Email", "Klaviyo"),
)
PRODUCTS = (
    ("Night Cream 50 ml", Decimal("34.90")),
    ("Vitamin C Serum 30 ml", Decimal("29.50")),
    ("Cleansing Foam 150 ml", Decimal("14.90")),
    ("Hand Balm 75 ml", Decimal("9.90")),
    ("Lip Care Duo", Decimal("12.00")),
    ("Gift Voucher 50 EUR", Decimal("50.00")),
)
SUBJECTS = ("Neu im Shop", "Your weekly picks", "Nur heute: -20 %", "Back in stock")
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari",
)
DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")
