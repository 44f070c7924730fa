"""A deterministic, realistic sample of lead events for the demo: half Japanese, half English."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

from shared.normalize import FREE_MAIL_DEFAULT, email_domain, normalize_email, seniority_for

Endpoint = Literal["form", "webinar", "tradeshow", "behavior"]
ENDPOINTS: tuple[Endpoint, ...] = ("form", "webinar", "tradeshow", "behavior")
JST = timezone(timedelta(hours=9), "JST")
SITE = "https://www.leadflow.example"


@dataclass(frozen=True)
class DemoEvent:
    """One ``POST /v1/events/{endpoint}`` with ``body``; ``email`` is the normalized person key."""

    endpoint: Endpoint
    body: dict[str, Any]
    email: str
    # Whether the lead was designed to qualify under the shipped scoring.yaml: the demo waits for these.
    qualifies: bool = False


@dataclass(frozen=True)
class _Company:
    spellings: tuple[str, ...]  # how different people type the same company: the account matching shows it
    slug: str
    industry: str
    employees: int
    country: str
    weight: int  # larger accounts get more people, so several leads share a company


@dataclass(frozen=True)
class _Person:
    name: str
    email: str
    company: str
    title: str
    phone: str | None
    industry: str
    employees: int
    country: str
    japanese: bool
    shout_email: bool  # one identity event carries the address full-width or upper-cased


_JP_COMPANIES = (
    _Company(
        ("株式会社サンプル商事", "(株)サンプル商事", "サンプル商事株式会社", "㈱サンプル商事"),
        "sample-shoji",
        "retail",
        1200,
        "JP",
        6,
    ),
    _Company(("(株)テック", "株式会社テック", "テック株式会社"), "tech", "情報通信", 350, "JP", 5),
    _Company(("株式会社山田製作所", "山田製作所"), "yamada-ss", "製造", 2400, "JP", 4),
    _Company(("東洋精機株式会社", "東洋精機(株)"), "toyo-seiki", "manufacturing", 5000, "JP", 4),
    _Company(("株式会社みらいフィナンシャル", "みらいフィナンシャル"), "mirai-fin", "finance", 800, "JP", 3),
    _Company(("さくらソフト合同会社",), "sakura-soft", "software", 45, "JP", 2),
    _Company(("株式会社日本データシステムズ", "日本データシステムズ(株)"), "nds", "情報通信", 1500, "JP", 3),
    _Company(("有限会社青空マーケティング",), "aozora-mk", "retail", 20, "JP", 2),
    _Company(("関西フーズ株式会社",), "kansai-foods", "製造", 600, "JP", 2),
    _Company(("グローバルテックジャパン株式会社", "ｸﾞﾛｰﾊﾞﾙﾃｯｸｼﾞｬﾊﾟﾝ(株)"), "gtj", "情報通信", 3000, "JP", 3),
    _Company(("株式会社富士見リテール",), "fujimi-retail", "retail", 150, "JP", 2),
    _Company(("北斗精密工業株式会社",), "hokuto-seimitsu", "製造", 90, "JP", 2),
)
_EN_COMPANIES = (
    _Company(
        ("Acme Robotics Inc.", "Acme Robotics, Inc.", "ACME Robotics"),
        "acme-robotics",
        "manufacturing",
        1800,
        "US",
        6,
    ),
    _Company(("Northwind Traders Co.",), "northwind", "retail", 450, "US", 3),
    _Company(("Globex Financial Ltd.", "GLOBEX FINANCIAL LTD"), "globex", "finance", 900, "SG", 4),
    _Company(("Initech Inc.", "Initech"), "initech", "software", 250, "US", 3),
    _Company(("Contoso Manufacturing GmbH", "Contoso Manufacturing"), "contoso", "manufacturing", 5000, "DE", 4),
    _Company(("Hooli Software Inc.",), "hooli", "software", 4000, "US", 3),
    _Company(("Lion City Payments Pte. Ltd.",), "lioncity-pay", "finance", 120, "SG", 2),
    _Company(("Bergmann Maschinenbau AG",), "bergmann", "manufacturing", 1300, "DE", 3),
    _Company(("Bluebird Retail Co., Ltd.",), "bluebird", "retail", 600, "SG", 2),
    _Company(("Pied Piper Inc.",), "piedpiper", "software", 20, "US", 2),
    _Company(("Umbrella Data Co.",), "umbrella-data", "software", 75, "US", 2),
    _Company(("Stark Components Ltd.",), "stark-components", "manufacturing", 350, "DE", 2),
)

_JP_SURNAMES = (
    ("田中", "tanaka"), ("佐藤", "sato"), ("鈴木", "suzuki"), ("高橋", "takahashi"), ("伊藤", "ito"),
    ("渡辺", "watanabe"), ("山本", "yamamoto"), ("中村", "nakamura"), ("小林", "kobayashi"), ("加藤", "kato"),
    ("吉田", "yoshida"), ("山田", "yamada"), ("佐々木", "sasaki"), ("松本", "matsumoto"), ("井上", "inoue"),
    ("木村", "kimura"), ("林", "hayashi"), ("斎藤", "saito"), ("清水", "shimizu"), ("山口", "yamaguchi"),
    ("森", "mori"), ("池田", "ikeda"), ("橋本", "hashimoto"), ("阿部", "abe"), ("石川", "ishikawa"),
)  # fmt: skip
_JP_GIVEN = (
    ("太郎", "taro"), ("花子", "hanako"), ("健太", "kenta"), ("翔太", "shota"), ("美咲", "misaki"),
    ("陽子", "yoko"), ("大輔", "daisuke"), ("直樹", "naoki"), ("由美", "yumi"), ("誠", "makoto"),
    ("恵", "megumi"), ("拓也", "takuya"), ("彩", "aya"), ("亮", "ryo"), ("さくら", "sakura"),
    ("裕子", "yuko"), ("和也", "kazuya"), ("千尋", "chihiro"), ("修", "osamu"), ("真由美", "mayumi"),
)  # fmt: skip
_EN_FIRST = (
    "James", "Mary", "Robert", "Patricia", "Michael", "Jennifer", "David", "Linda", "Daniel", "Sarah",
    "Thomas", "Emily", "Kevin", "Laura", "Brian", "Anna", "Lukas", "Sophie", "Wei Ling", "Priya",
    "Arjun", "Chloe", "Marcus", "Hannah", "Ethan", "Olivia",
)  # fmt: skip
_EN_LAST = (
    "Smith", "Johnson", "Brown", "Miller", "Davis", "Garcia", "Wilson", "Taylor", "Anderson", "Moore",
    "Martin", "Müller", "Schmidt", "Weber", "Tan", "Lim", "Ng", "Chen", "Patel", "Nguyen", "Clark",
    "Lewis", "Walker", "Hall",
)  # fmt: skip
_JP_TITLES = {
    "decision_maker": (
        "代表取締役",
        "代表取締役社長",
        "取締役 営業本部長",
        "営業部長",
        "情報システム部長",
        "執行役員",
    ),
    "manager": ("課長", "営業課長", "マーケティング課長", "主任", "係長"),
    "staff": ("営業部 担当", "マーケティング部", "エンジニア", "総務部", ""),
}
_EN_TITLES = {
    "decision_maker": ("CEO", "VP of Sales", "Director IT", "Head of Marketing", "CTO"),
    "manager": ("Marketing Manager", "Sales Manager", "IT Manager", "Team Lead, Operations"),
    "staff": ("Engineer", "Sales Representative", "Analyst", "Marketing Specialist", ""),
}
_WEBINARS_JP = ("営業DX入門ウェビナー", "リードスコアリング実践セミナー", "MA活用オンライン講座")
_WEBINARS_EN = ("Lead Scoring 101", "Speed-to-Lead Masterclass", "RevOps Live: Routing that Works")
_SHOWS_JP = ("DX総合EXPO 東京", "営業支援EXPO 大阪")
_SHOWS_EN = ("SaaS Summit Berlin", "FinTech Asia Singapore", "Sales Tech World Chicago")
_NOTES = {
    "hot": ("予算確保済み、来期導入を検討中", "Budget approved, wants a proposal this quarter"),
    "warm": ("情報収集段階", "Evaluating options for next year"),
    "cold": ("名刺交換のみ", "Card exchange only"),
}
_PAGES = (
    "/product/routing",
    "/product/scoring",
    "/case-studies",
    "/blog/speed-to-lead",
    "/integrations/slack",
)
_WHITEPAPERS = ("/whitepapers/lead-scoring-guide.pdf", "/whitepapers/sla-between-marketing-and-sales.pdf")

# The stories a lead can have, with how many of each per 100 leads of a language: 30 qualify, 70 do not.
_QUALIFYING = {
    "demo": 6,
    "contact": 5,
    "document": 6,
    "consult": 4,
    "pricing": 3,
    "engaged": 4,
    "hot_badge": 2,
}
_NOT_QUALIFYING = {
    "newsletter": 14,
    "browse": 10,
    "badge_warm": 8,
    "badge_cold": 10,
    "webinar_registered": 6,
    "webinar_no_show": 4,
    "webinar_attended": 8,
    "whitepaper": 6,
    "unsubscribed": 2,
    "bounced": 2,
}
# Stories that reach MQL by score alone (no rank-A action) need a senior person at a sizeable company.
_MIN_EMPLOYEES = {"engaged": 1000, "hot_badge": 300, "pricing": 300}
# Upper bound of intent points per non-qualifying story under the shipped scoring.yaml, without decay.
_MAX_INTENT = {
    "newsletter": 5,
    "browse": 11,
    "badge_warm": 6,
    "badge_cold": 5,
    "webinar_registered": 6,
    "webinar_no_show": 5,
    "webinar_attended": 25,
    "whitepaper": 11,
    "unsubscribed": 0,
    "bounced": 0,
}
_TARGET_INDUSTRIES = frozenset({"manufacturing", "software", "finance", "製造", "情報通信"})


def _fit_points(person: _Person) -> int:
    """Fit under the shipped scoring.yaml, only to keep non-qualifying stories below MQL (60)."""
    seniority = {"decision_maker": 15, "manager": 10, "staff": 3}.get(seniority_for(person.title), 0)
    size = 15 if person.employees >= 1000 else 10 if person.employees >= 300 else 5 if person.employees >= 50 else 0
    industry = 10 if person.industry in _TARGET_INDUSTRIES else 0
    free_mail = -10 if email_domain(normalize_email(person.email)) in FREE_MAIL_DEFAULT else 0
    return seniority + size + industry + free_mail


def _wide(text: str) -> str:
    """ASCII to full-width, as some Japanese forms submit it: ＴＡＲＯ＠ＥＸＡＭＰＬＥ．ＪＰ."""
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


class _Builder:
    """Draws people and their events from one seeded random source, so a seed always gives the same sample."""

    def __init__(self, seed: int, now: datetime) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.now = now
        self.emails: set[str] = set()
        self.events: list[tuple[datetime, int, DemoEvent]] = []

    # people

    def person(self, japanese: bool, story: str) -> _Person:
        """A new person whose attributes fit the story (senior enough to qualify, or junior enough not to)."""
        for _ in range(50):
            candidate = self._draw_person(japanese, story)
            if story in _QUALIFYING:
                fits = candidate.employees >= _MIN_EMPLOYEES.get(story, 0)
            else:
                fits = _fit_points(candidate) + _MAX_INTENT[story] < 55
            if fits:
                break
        self.emails.add(normalize_email(candidate.email))
        return candidate

    def _draw_person(self, japanese: bool, story: str) -> _Person:
        rng = self.rng
        companies = _JP_COMPANIES if japanese else _EN_COMPANIES
        company = rng.choices(companies, weights=[c.weight for c in companies])[0]
        level = rng.choices(("decision_maker", "manager", "staff"), weights=(3, 3, 4))[0]
        if story in _MIN_EMPLOYEES:
            level = "decision_maker"
        title = rng.choice((_JP_TITLES if japanese else _EN_TITLES)[level])
        # Free-mail addresses only where the score does not depend on them: they cost 10 fit points.
        free_mail = story not in _MIN_EMPLOYEES and rng.random() < 0.12
        if japanese:
            (surname, surname_r), (given, given_r) = rng.choice(_JP_SURNAMES), rng.choice(_JP_GIVEN)
            name = rng.choice((f"{surname} {given}", f"{surname}　{given}", f"{surname}{given}"))
            local = rng.choice((f"{given_r}.{surname_r}", f"{surname_r}-{given_r[0]}", f"{surname_r}{given_r}"))
            domain = rng.choice(("gmail.com", "yahoo.co.jp")) if free_mail else f"{company.slug}.example.co.jp"
            phone = rng.choice((f"03-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}", None))
            if phone and rng.random() < 0.3:
                phone = _wide(phone)
        else:
            first, last = rng.choice(_EN_FIRST), rng.choice(_EN_LAST)
            name = f"{first} {last}"
            ascii_last = last.replace("ü", "ue").lower()
            local = rng.choice((f"{first.split()[0].lower()}.{ascii_last}", f"{first[0].lower()}{ascii_last}"))
            domain = rng.choice(("gmail.com", "yahoo.com")) if free_mail else f"{company.slug}.example.com"
            prefix = {"US": "+1 312 555 ", "DE": "+49 30 555 ", "SG": "+65 6555 "}[company.country]
            phone = rng.choice((f"{prefix}{rng.randint(1000, 9999)}", None))
        email = f"{local}@{domain}"
        suffix = 2
        while normalize_email(email) in self.emails:
            email = f"{local}{suffix}@{domain}"
            suffix += 1
        return _Person(
            name=name,
            email=email,
            company=rng.choice(company.spellings),
            title=title,
            phone=phone,
            industry=company.industry,
            employees=company.employees,
            country=company.country,
            japanese=japanese,
            shout_email=rng.random() < (0.2 if japanese else 0.08),
        )

    # events

    def ago(self, low_days: float, high_days: float) -> datetime:
        """A moment between ``low_days`` and ``high_days`` before now, to the second."""
        moment = self.now - timedelta(days=self.rng.uniform(low_days, high_days))
        return moment.replace(microsecond=0)

    def just_now(self) -> datetime:
        """A few minutes ago: rank-A actions are fresh, so their 1-hour SLA is still running."""
        return (self.now - timedelta(minutes=self.rng.uniform(2, 40))).replace(microsecond=0)

    def _add(self, endpoint: Endpoint, person: _Person, at: datetime, fields: dict[str, Any], qualifies: bool) -> None:
        tz = JST if person.japanese else UTC
        body = {**fields, "occurred_at": at.astimezone(tz).isoformat()}
        seq = len(self.events)
        body["event_id"] = f"demo-{self.seed}-{seq:04d}"
        self.events.append((at, seq, DemoEvent(endpoint, body, normalize_email(person.email), qualifies)))

    def _identity(self, person: _Person, *, phone: bool) -> dict[str, Any]:
        email = person.email
        if person.shout_email:
            email = _wide(email.upper()) if person.japanese else email.title()
        fields: dict[str, Any] = {
            "email": email,
            "name": person.name,
            "company": person.company,
            "title": person.title,
            "industry": person.industry,
            "employees": person.employees,
            "country": person.country,
        }
        if phone:
            fields["phone"] = person.phone
        return fields

    def form(self, person: _Person, at: datetime, form: str, qualifies: bool) -> None:
        self._add("form", person, at, {**self._identity(person, phone=True), "form": form}, qualifies)

    def webinar(self, person: _Person, at: datetime, action: str, qualifies: bool, minutes: int | None = None) -> None:
        title = self.rng.choice(_WEBINARS_JP if person.japanese else _WEBINARS_EN)
        fields = {
            **self._identity(person, phone=False),
            "webinar": title,
            "action": action,
            "minutes": minutes,
        }
        self._add("webinar", person, at, fields, qualifies)

    def tradeshow(self, person: _Person, at: datetime, rating: str, qualifies: bool) -> None:
        show = self.rng.choice(_SHOWS_JP if person.japanese else _SHOWS_EN)
        note = _NOTES[rating][0 if person.japanese else 1]
        fields = {
            **self._identity(person, phone=True),
            "show": show,
            "action": "badge_scan",
            "rating": rating,
            "notes": note,
        }
        self._add("tradeshow", person, at, fields, qualifies)

    def behavior(self, person: _Person, at: datetime, kind: str, url: str, qualifies: bool) -> None:
        # Marketing automation sends the address as stored: plain, lower-case.
        fields = {"email": normalize_email(person.email), "type": kind, "url": url}
        self._add("behavior", person, at, fields, qualifies)

    def newsletter_mail(self) -> str:
        return f"{SITE}/newsletter/{self.rng.choice(('2025-04', '2025-05', 'product-update'))}"

    def page(self) -> str:
        return SITE + self.rng.choice(_PAGES)

    def story(self, person: _Person, story: str) -> None:
        """Emit the events of one lead's story; the qualifying ones end with a fresh high-intent action."""
        q = story in _QUALIFYING
        rng = self.rng
        stories: dict[str, Callable[[], None]] = {
            "demo": lambda: self._demo(person),
            "contact": lambda: self._contact(person),
            "document": lambda: self._document(person),
            "consult": lambda: self._consult(person),
            "pricing": lambda: self._pricing(person),
            "engaged": lambda: self._engaged(person),
            "hot_badge": lambda: self._hot_badge(person),
        }
        if q:
            stories[story]()
        elif story in ("newsletter", "browse", "whitepaper", "unsubscribed"):
            self.form(person, self.ago(25, 45), "newsletter", q)
            for _ in range(rng.randint(0, 2) if story != "unsubscribed" else 1):
                self.behavior(person, self.ago(1, 20), "email_open", self.newsletter_mail(), q)
            if story == "browse":
                for _ in range(rng.randint(2, 5)):
                    self.behavior(person, self.ago(0.5, 20), "page_view", self.page(), q)
            elif story == "whitepaper":
                self.behavior(person, self.ago(1, 15), "whitepaper_download", SITE + rng.choice(_WHITEPAPERS), q)
            elif story == "unsubscribed":
                self.behavior(person, self.ago(0.2, 1), "unsubscribe", f"{SITE}/unsubscribe", q)
        elif story in ("badge_warm", "badge_cold", "bounced"):
            self.tradeshow(person, self.ago(5, 30), "warm" if story == "badge_warm" else "cold", q)
            if story == "badge_warm" and rng.random() < 0.5:
                self.behavior(person, self.ago(1, 4), "email_open", self.newsletter_mail(), q)
            if story == "bounced":
                self.behavior(person, self.ago(1, 4), "bounce", self.newsletter_mail(), q)
        else:
            self.webinar(person, self.ago(10, 20), "registered", q)
            if story == "webinar_no_show":
                self.webinar(person, self.ago(3, 9), "no_show", q)
            elif story == "webinar_attended":
                at = self.ago(3, 9)
                self.webinar(person, at, "attended", q, minutes=rng.randint(15, 60))
                if seniority_for(person.title) == "staff" and rng.random() < 0.4:
                    self.webinar(person, at + timedelta(minutes=20), "question", q)

    def _demo(self, person: _Person) -> None:
        if self.rng.random() < 0.6:
            self.behavior(person, self.ago(3, 20), "page_view", self.page(), True)
            self.behavior(person, self.ago(0.5, 3), "page_view", f"{SITE}/pricing", True)
        self.form(person, self.just_now(), "demo_request", True)

    def _contact(self, person: _Person) -> None:
        if self.rng.random() < 0.5:
            self.behavior(person, self.ago(2, 10), "email_click", self.newsletter_mail(), True)
        self.form(person, self.just_now(), "contact", True)

    def _document(self, person: _Person) -> None:
        if self.rng.random() < 0.5:
            self.form(person, self.ago(30, 45), "newsletter", True)
            self.behavior(person, self.ago(3, 20), "email_open", self.newsletter_mail(), True)
        self.form(person, self.just_now(), "document_request", True)

    def _consult(self, person: _Person) -> None:
        self.webinar(person, self.ago(12, 16), "registered", True)
        attended = self.ago(0.1, 0.2)
        self.webinar(person, attended, "attended", True, minutes=self.rng.randint(40, 60))
        self.webinar(person, self.just_now(), "consultation_request", True)

    def _pricing(self, person: _Person) -> None:
        self.behavior(person, self.ago(2, 6), "page_view", f"{SITE}/pricing", True)
        self.behavior(person, self.ago(4, 10), "whitepaper_download", SITE + self.rng.choice(_WHITEPAPERS), True)
        self.form(person, self.just_now(), "pricing", True)

    def _engaged(self, person: _Person) -> None:
        # No single rank-A action: the score alone (decision maker, big company, a webinar, a whitepaper,
        # clicks and the pricing page) crosses MQL, which is routed too.
        self.webinar(person, self.ago(12, 14), "registered", True)
        self.webinar(person, self.ago(8, 10), "attended", True, minutes=self.rng.randint(45, 60))
        self.behavior(person, self.ago(5, 7), "whitepaper_download", SITE + self.rng.choice(_WHITEPAPERS), True)
        self.behavior(person, self.ago(3, 5), "email_click", self.newsletter_mail(), True)
        self.behavior(person, self.ago(1, 3), "email_click", self.newsletter_mail(), True)
        self.behavior(person, self.ago(0.01, 0.03), "page_view", f"{SITE}/pricing", True)

    def _hot_badge(self, person: _Person) -> None:
        self.tradeshow(person, self.ago(6, 10), "hot", True)
        self.behavior(person, self.ago(3, 5), "email_click", self.newsletter_mail(), True)
        self.behavior(person, self.ago(2, 3), "email_click", self.newsletter_mail(), True)
        self.behavior(person, self.ago(1, 2), "whitepaper_download", SITE + self.rng.choice(_WHITEPAPERS), True)
        self.behavior(person, self.ago(0.01, 0.03), "page_view", f"{SITE}/pricing", True)


def sample_events(seed: int = 7, now: datetime | None = None) -> list[DemoEvent]:
    """About 200 leads' events over the last weeks, oldest first; same seed and ``now``, same list."""
    builder = _Builder(seed, (now or datetime.now(UTC)).astimezone(UTC))
    for japanese in (True, False):
        stories = [story for story, count in (_QUALIFYING | _NOT_QUALIFYING).items() for _ in range(count)]
        builder.rng.shuffle(stories)
        for story in stories:
            builder.story(builder.person(japanese, story), story)
    # Oldest first, like a replay of the last weeks; ties keep generation order.
    return [event for _, _, event in sorted(builder.events, key=lambda item: (item[0], item[1]))]
