"""Fixed facts of the simulated community: vocabularies, actions, custom fields, statuses, tiers, store."""

from __future__ import annotations

from typing import Any

import numpy as np

from simulator import objectid
from simulator.timefmt import CLOCK_START_MS, DAY_MS, iso

DEFAULT_COMMUNITY_ID = "6502c9e514a3e564c5c09c0a"
COMMUNITY_ID = DEFAULT_COMMUNITY_ID  # the community this process serves (`use_community`)

FIRST_NAMES = [
    "Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "Edsger",
    "Radia", "Tim", "Hedy", "John", "Sophie", "Katherine", "Donald", "Lynn", "Guido", "Anita",
    "Yukihiro", "Joan", "Bjarne", "Shafi", "Niklaus", "Jean", "Leslie", "Ruth", "Whitfield", "Mary",
    "Renée", "José", "Zoë", "Björn", "Chloé", "Łukasz",
]
LAST_NAMES = [
    "Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson", "Allen",
    "Dijkstra", "Perlman", "Berners", "Lamarr", "McCarthy", "Wilson", "Johnson", "Knuth", "Conway",
    "Rossum", "Borg", "Matsumoto", "Clarke", "Stroustrup", "Goldwasser", "Wirth", "Sammet", "Lamport",
    "Teitelbaum", "Diffie", "Keller", "Müller", "García", "O'Neil",
]
DOMAINS = ["example.com", "mail.test", "inbox.example", "post.example.org"]
LANGUAGES = ["en", "en", "en", "de", "fr", "es", "pt", "ja"]
ROLES = ["member", "member", "member", "member", "vip", "moderator"]

CITIES = ["London", "Paris", "Berlin", "Lisbon", "Madrid", "Tokyo", "New York", "São Paulo", "Kraków", "Zürich"]
GAMES = ["Chess", "Go", "Poker", "Tetris", "Minecraft", "Fortnite"]

# gamification actions: code -> (name, xp, coins, probability)
ACTIONS = ["message", "reply", "react", "visit", "referral", "streak", "minigame", "badge", "bulk_update", "redemption"]
A_MESSAGE, A_REPLY, A_REACT, A_VISIT, A_REFERRAL, A_STREAK, A_MINIGAME, A_BADGE, A_BULK, A_REDEMPTION = range(10)
EARN_XP = np.array([5, 3, 1, 2, 50, 10, 0, 25], dtype=np.int64)
EARN_COINS = np.array([2, 1, 0, 1, 25, 5, 0, 10], dtype=np.int64)
EARN_P = np.array([0.35, 0.2, 0.2, 0.15, 0.01, 0.03, 0.04, 0.02])
XP_SETTING = {
    "enabled": True,
    "message": {"enabled": True, "xp": 5, "time": 60},
    "reply": {"enabled": True, "xp": 3, "time": 60},
    "react": {"enabled": True, "xp": 1, "time": 30},
    "visit": {"enabled": True, "xp": 2, "time": 86400},
}

TIERS: list[dict[str, Any]] = [
    {"name": "Bronze", "icon": "https://cdn.example.invalid/tiers/bronze.png",
     "levels": [{"level": 1, "xp": 0}, {"level": 2, "xp": 100}, {"level": 3, "xp": 250}]},
    {"name": "Silver", "icon": "https://cdn.example.invalid/tiers/silver.png",
     "levels": [{"level": 1, "xp": 500}, {"level": 2, "xp": 800}, {"level": 3, "xp": 1200}]},
    {"name": "Gold", "icon": "https://cdn.example.invalid/tiers/gold.png",
     "levels": [{"level": 1, "xp": 2000}, {"level": 2, "xp": 3000}, {"level": 3, "xp": 5000}]},
]
TIER_THRESHOLDS = np.array([lv["xp"] for t in TIERS for lv in t["levels"]], dtype=np.int64)
TIER_STEPS = [(t["name"], lv["level"]) for t in TIERS for lv in t["levels"]]


def tier_of(xp: int) -> tuple[str, int]:
    i = int(np.searchsorted(TIER_THRESHOLDS, xp, side="right")) - 1
    return TIER_STEPS[max(i, 0)]


def _cid(n: int) -> str:
    """Stable ObjectIds for catalog items."""
    return objectid.make(CLOCK_START_MS - 400 * DAY_MS + n * 3_600_000, objectid.TAG_CATALOG, n)


def _at(days_before: float) -> str:
    return iso(CLOCK_START_MS - int(days_before * DAY_MS))


# custom user fields: key, name, type, options
CUSTOM_FIELDS: list[dict[str, Any]] = [
    {"field": "city", "name": "City", "type": "text", "options": []},
    {"field": "favourite_game", "name": "Favourite game", "type": "select", "options": GAMES},
    {"field": "age", "name": "Age", "type": "number", "options": []},
    {"field": "newsletter_opt_in", "name": "Newsletter opt-in", "type": "boolean", "options": []},
    {"field": "birthday", "name": "Birthday", "type": "date", "options": []},
    {"field": "loyalty_points", "name": "Loyalty points", "type": "numerical", "options": []},
]
CUSTOM_KEYS = [f["field"] for f in CUSTOM_FIELDS]
NUMERIC_TYPES = {"number", "numerical"}
for _i, _f in enumerate(CUSTOM_FIELDS):
    _f["_id"] = _cid(100 + _i)

PLATFORM_FIELDS = [
    "email", "first_name", "last_name", "join_date", "xp", "coins", "username", "display_name",
    "last_login", "tier", "level", "premium_currency", "language", "login_streak", "total_messages",
    "total_reactions", "visit_count", "is_deleted",
]


def user_field_records() -> list[dict[str, Any]]:
    creator = {"_id": _cid(1), "avatar": "https://cdn.example.invalid/avatars/owner.png",
               "displayName": "Community Owner", "username": "owner"}
    out = []
    for i, f in enumerate(CUSTOM_FIELDS):
        default: Any = {"boolean": False, "numerical": 0}.get(f["type"])
        out.append({
            "_id": f["_id"], "field": f["field"], "name": f["name"], "type": f["type"],
            "description": f"{f['name']} of the member", "required": False, "defaultValue": default,
            "options": list(f["options"]), "creator": creator if i % 2 == 0 else None,
            "communityId": COMMUNITY_ID, "createdAt": _at(300 - i), "updatedAt": _at(200 - i),
        })
    return out


STATUSES: list[dict[str, Any]] = [
    {"_id": _cid(200), "name": "Pending", "category": "incomplete", "color": "#F5A623"},
    {"_id": _cid(201), "name": "Processing", "category": "incomplete", "color": "#9B51E0"},
    {"_id": _cid(202), "name": "Shipping", "category": "incomplete", "color": "#3EA1FD"},
    {"_id": _cid(203), "name": "Completed", "category": "complete", "color": "#27AE60"},
    {"_id": _cid(204), "name": "Cancelled", "category": "cancelled", "color": "#EB5757"},
]
S_PENDING, S_PROCESSING, S_SHIPPING, S_COMPLETED, S_CANCELLED = range(5)
STATUS_BY_ID = {s["_id"]: i for i, s in enumerate(STATUSES)}

CATEGORIES: list[dict[str, Any]] = []
for _i, _name in enumerate(["Vouchers", "Merchandise", "Digital", "Experiences", "Charity"]):
    CATEGORIES.append({
        "_id": _cid(300 + _i), "communityID": COMMUNITY_ID, "name": _name,
        "coverImage": f"https://cdn.example.invalid/categories/{_i}.png", "shouldShowCover": _i % 2 == 0,
        "isArchived": _i == 4, "viewType": "grid" if _i % 2 == 0 else "list", "displayOrder": _i + 1,
        "categoryPermission": [] if _i else ["vip"], "defaultPurchaseStatusID": STATUSES[0]["_id"],
        "createdAt": _at(380 - _i), "updatedAt": _at(100 - _i),
    })

_PRODUCT_NAMES = [
    "Coffee voucher", "Cinema ticket", "T-shirt", "Hoodie", "Sticker pack", "Mug", "E-book",
    "Game key", "Spotify month", "Concert pass", "Donation: trees", "Donation: water", "Cap",
    "Backpack", "Gift card 10", "Gift card 25", "Gift card 50", "Wallpaper pack", "Emoji pack",
    "VIP role", "Meet the team", "Notebook", "Pen set", "Socks", "Headphones",
]
PRODUCTS: list[dict[str, Any]] = []
for _i, _name in enumerate(_PRODUCT_NAMES):
    _price = [20, 60, 120, 250, 15, 80, 40, 150, 90, 600, 30, 30, 70, 300, 100, 240, 480, 10, 10, 200,
              900, 45, 35, 25, 700][_i]
    _type = "voucher" if _i % 3 != 2 else "physical"
    PRODUCTS.append({
        "_id": _cid(400 + _i), "communityID": COMMUNITY_ID, "name": _name,
        "description": f"<p>{_name} — redeem with your coins.</p>",
        "image": f"https://cdn.example.invalid/products/{_i}.png", "price": _price, "type": _type,
        "categoryID": CATEGORIES[_i % 5]["_id"], "stocks": 1000 + 37 * _i,
        "discountPrice": int(_price * 0.8), "isDiscountEnabled": _i % 5 == 0,
        "discountStartDate": _at(30) if _i % 5 == 0 else None,
        "discountEndDate": iso(CLOCK_START_MS + 30 * DAY_MS) if _i % 5 == 0 else None,
        "isArchived": False, "displayOrder": _i + 1,
        "redemptionInstructions": f"Show the code at checkout ({_name}).",
        "createdAt": _at(360 - _i), "updatedAt": _at(60 - _i),
        "userInformation": {"isEnabled": _i % 2 == 0, "fields": ["email"] if _i % 2 == 0 else []},
        "expiringVoucherHighlight": {"isEnabled": _type == "voucher", "days": 7},
        "i18n": {"de": {"name": _name}},
        "customOptions": [],
        "purchaseStatusOverride": None,
    })
PRODUCT_PRICES = np.array([p["price"] for p in PRODUCTS], dtype=np.int64)

STORE = {
    "_id": _cid(500), "communityID": COMMUNITY_ID, "isEnabled": True, "title": "Community Store",
    "description": "Spend the coins you earn.", "cover": {"type": "color", "value": "#101820"},
    "currency": {"name": "Coins", "symbol": "🪙"}, "widgetID": _cid(501), "widget": {"isEnabled": True},
    "createdAt": _at(390), "updatedAt": _at(20),
}

LEADERBOARDS: list[dict[str, Any]] = []
for _i, (_name, _rank) in enumerate([("All-time XP", "xp"), ("Coin collectors", "coins"),
                                     ("Chatterboxes", "messages"), ("Monthly XP", "xp")]):
    LEADERBOARDS.append({
        "_id": _cid(600 + _i), "communityID": COMMUNITY_ID, "name": _name,
        "slug": _name.lower().replace(" ", "-"), "description": f"{_name} leaderboard",
        "image": f"https://cdn.example.invalid/leaderboards/{_i}.png", "rankBy": _rank,
        "displayedFields": ["username", _rank], "timeFilters": ["all", "month"] if _i != 3 else ["month"],
        "duration": {"start": _at(200), "end": None if _i != 3 else iso(CLOCK_START_MS + 30 * DAY_MS),
                     "noEndDate": _i != 3, "timeZone": "UTC"},
        "createdAt": _at(300 - 10 * _i), "updatedAt": _at(50 - _i),
    })

STREAKS: list[dict[str, Any]] = [
    {"_id": _cid(700), "name": "Daily visit", "communityId": COMMUNITY_ID, "timezone": "UTC",
     "startDate": _at(365), "timeframe": {"value": "day", "count": 1},
     "action": {"operator": "and", "conditions": [{"type": "visit", "count": 1}]},
     "activeDaysType": "all", "activeDays": [0, 1, 2, 3, 4, 5, 6], "order": 1,
     "createdAt": _at(365), "updatedAt": _at(40)},
    {"_id": _cid(701), "name": "Weekly chatter", "communityId": COMMUNITY_ID, "timezone": "UTC",
     "startDate": _at(200), "timeframe": {"value": "week", "count": 1},
     "action": {"operator": "or", "conditions": [{"type": "message", "count": 5}, {"type": "reply", "count": 5}]},
     "activeDaysType": "custom", "activeDays": [1, 2, 3, 4, 5], "order": 2,
     "createdAt": _at(200), "updatedAt": _at(30)},
    {"_id": _cid(702), "name": "Weekend reactor", "communityId": COMMUNITY_ID, "timezone": "Europe/London",
     "startDate": _at(100), "timeframe": {"value": "day", "count": 2},
     "action": {"operator": "and", "conditions": [{"type": "react", "count": 3}]},
     "activeDaysType": "custom", "activeDays": [0, 6], "order": 3,
     "createdAt": _at(100), "updatedAt": _at(10)},
]
STREAK_STATUSES = ["started", "continued", "broken"]

# channels (7.14): every type; iframe channels embed a page and hold no messages
CHANNELS: list[dict[str, Any]] = []
for _i, (_topic, _type, _desc, _weight) in enumerate([
        ("Rules", "text", "Read before posting", 0.02),
        ("general", "text", "Everything about the community", 0.34),
        ("announcements", "text", "News from the team", 0.04),
        ("Café ☕ off-topic", "text", "Anything goes, be kind", 0.18),
        ("help", "forum", "Questions and answers", 0.16),
        ("feature-requests", "forum", "Ideas for the platform", 0.10),
        ("leaderboard", "iframe", "The live leaderboard", 0.0),
        ("store", "iframe", "Spend your coins", 0.0),
        ("Ada & Alan", "direct", "", 0.08),
        ("Grace & Linus", "direct", "", 0.08)]):
    CHANNELS.append({
        "_id": _cid(800 + _i), "topic": _topic, "type": _type, "description": _desc,
        "isPrivate": _type == "direct", "createdAt": _at(400 - _i), "updatedAt": _at(30 - _i),
    })
    CHANNELS[-1]["_weight"] = _weight
CHANNEL_WEIGHTS = np.array([c.pop("_weight") for c in CHANNELS])
CHANNEL_WEIGHTS /= CHANNEL_WEIGHTS.sum()
CHANNEL_BY_ID = {c["_id"]: i for i, c in enumerate(CHANNELS)}
POSTABLE_CHANNELS = [i for i, c in enumerate(CHANNELS) if c["type"] != "iframe"]

_OPENERS = ["Hi all!", "Morning,", "Quick question:", "Heads up:", "Honestly,", "Just saw this:", "Update:",
            "Anyone else think", "Big thanks —", "Hot take:", "Hallo zusammen,", "Olá!", "Bonjour,", "¡Hola!",
            "Lol,", "FYI", "Reminder:", "So", "Wow 🎉", "Hmm,"]
_SUBJECTS = ["the new season starts Friday", "who's up for a quiz tonight?", "the store has new vouchers",
             "I finally hit Gold tier", "spin the wheel before midnight", "the leaderboard reset is weird",
             "great stream yesterday 🙌", "is the app down for anyone?", "welcome to the newcomers 👋",
             "the café meetup was fun", "my streak broke after 40 days 😭", "can we get dark mode?",
             "scratch cards are rigged 😅", "how do I redeem a voucher?", "see you at the event in Zürich"]
MESSAGE_PHRASES = [f"{a} {b}" for a in _OPENERS for b in _SUBJECTS]
WELCOME_TEXT = "Welcome! Please read the rules and be kind to each other."
MAX_MESSAGE_CHARS = 4000
MUTABLE_WINDOW_MS = 48 * 3_600_000  # edits and reactions touch only messages this young

# mini-games (7.16, 7.17)
MINIGAMES = ["spin_wheel", "scratch_card", "quiz"]
MINIGAME_P = np.array([0.5, 0.3, 0.2])
MINIGAME_DAILY_PLAYS = np.array([3, 2, 5], dtype=np.int64)  # spinsLeft = allowance - plays today
OUTCOMES = ["win", "lose"]


def is_community_id(value: object) -> bool:
    """A community id is a MongoDB ObjectId: 24 lowercase hex characters."""
    return isinstance(value, str) and len(value) == 24 and all(c in "0123456789abcdef" for c in value)


def use_community(community_id: str) -> None:
    """Serve the community `community_id` from now on: `COMMUNITY_ID` and the id every fixed record
    (categories, products, store, leaderboards, streaks) carries. One simulator process serves one
    community; several processes with other seeds and ids stand for several communities."""
    global COMMUNITY_ID
    if not is_community_id(community_id):
        raise ValueError(f"community id {community_id!r}: 24 lowercase hex characters, as 6502c9e514a3e564c5c09c0a")
    COMMUNITY_ID = community_id
    for record in [*CATEGORIES, *PRODUCTS, STORE, *LEADERBOARDS, *STREAKS]:
        for key in ("communityID", "communityId"):
            if key in record:
                record[key] = community_id
