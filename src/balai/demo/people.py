"""The demo region's cast: the bodies of each state and the people who staff them.

Companies, CERTs and civil society carry invented names marked "(demo)". People's names are
drawn from common given and family names of each state, so no combination is meant to be
anyone real. Phone numbers sit in real fixed-line ranges of each capital (the United States
and Australia use their ranges reserved for fiction), so they format and validate like real
ones, but the demo never dials them.
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass
from enum import Enum

import phonenumbers

from balai.directory.models import Sector


class NameStyle(Enum):
    """How a culture orders a person's names."""

    GIVEN_FAMILY = "given_family"
    FAMILY_GIVEN = "family_given"
    PATRONYMIC = "patronymic"  # Malay: "Hafiz bin Othman", the father's name after bin/binti


@dataclass(frozen=True)
class NamePool:
    """Given and family names of one naming tradition."""

    style: NameStyle
    male: tuple[str, ...]
    female: tuple[str, ...]
    family: tuple[str, ...]
    language: str | None  # spoken at home, when it differs from the state's language


@dataclass(frozen=True)
class Locale:
    """What the demo needs to invent a plausible person in one state."""

    timezone: str
    language: str
    phone: str  # "#" is a random digit
    names: tuple[NamePool, ...]


@dataclass(frozen=True)
class Person:
    """An invented person: display name, mailbox (local part), given name and languages."""

    name: str
    mailbox: str
    given: str
    languages: list[str]


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split(", "))


def _pool(
    style: NameStyle, male: str, female: str, family: str, language: str | None = None
) -> NamePool:
    return NamePool(style, _names(male), _names(female), _names(family), language)


_G, _F, _P = NameStyle.GIVEN_FAMILY, NameStyle.FAMILY_GIVEN, NameStyle.PATRONYMIC

_MALAY_MY = _pool(
    _P,
    "Ahmad Faiz, Mohd Azlan, Hakim, Syafiq, Izzat, Firdaus",
    "Nur Aisyah, Farah, Aina, Syazwani, Liyana, Nabilah",
    "Rahman, Ismail, Hassan, Yusof, Aziz, Kamal",
)
_CHINESE_MY = _pool(
    _F,
    "Wei Jie, Kah Seng, Jun Hao",
    "Mei Ling, Hui Wen, Siew Lan",
    "Tan, Lim, Wong, Chong, Ng",
    "zh",
)
_INDIAN_MY = _pool(
    _G, "Arun, Suresh, Karthik", "Kavitha, Deepa, Revathi", "Subramaniam, Krishnan, Pillai", "ta"
)

LOCALES: dict[str, Locale] = {
    "BN": Locale(
        "Asia/Brunei",
        "ms",
        "+673 22#####",
        (
            _pool(
                _P,
                "Hafiz, Amirul, Khairul, Azmi, Faizal, Shahrin",
                "Nurul Huda, Rafidah, Norhayati, Zuraidah, Hasnah, Aqilah",
                "Abdullah, Ismail, Othman, Yusof, Hamid, Salleh, Jaafar, Mahmud",
            ),
        ),
    ),
    "KH": Locale(
        "Asia/Phnom_Penh",
        "km",
        "+855 23 21####",
        (
            _pool(
                _F,
                "Dara, Vuthy, Sokha, Rithy, Piseth, Visal",
                "Sreymom, Channary, Sophea, Bopha, Kanha, Sreyneang",
                "Sok, Chan, Keo, Meas, Heng, Pich, Chea, Ouk",
            ),
        ),
    ),
    "ID": Locale(
        "Asia/Jakarta",
        "id",
        "+62 21 57######",
        (
            _pool(
                _G,
                "Budi, Agus, Rizky, Andi, Dimas, Fajar",
                "Dewi, Ratna, Putri, Ayu, Indah, Wulan",
                "Santoso, Pratama, Wijaya, Saputra, Hidayat, Nugroho, Kusuma, Setiawan",
            ),
        ),
    ),
    "LA": Locale(
        "Asia/Vientiane",
        "lo",
        "+856 21 21####",
        (
            _pool(
                _G,
                "Souksavanh, Khamphone, Somphone, Bounmy, Phouthone, Sisouk",
                "Vilayvanh, Khamla, Malavanh, Phetsamone, Manivone, Souphaphone",
                "Phommachanh, Vongsa, Keomany, Sisavath, Inthavong, Chanthavong, Douangdy",
            ),
        ),
    ),
    "MY": Locale(
        "Asia/Kuala_Lumpur", "ms", "+60 3 26## ####", (_MALAY_MY, _CHINESE_MY, _INDIAN_MY)
    ),
    "MM": Locale(
        "Asia/Yangon",
        "my",
        "+95 1 23####",
        (
            # Burmese names have no family name; a last syllable plays its part here.
            _pool(
                _G,
                "Kyaw Zin, Aung Ko, Min Thu, Zaw Lin, Htet Naing, Thet Paing",
                "Thida, Su Myat, Nandar, Ei Mon, Hnin Wai, Khin Sandar",
                "Oo, Htun, Win, Myint, Lwin, Soe, Thein, Hlaing",
            ),
        ),
    ),
    "PH": Locale(
        "Asia/Manila",
        "tl",
        "+63 2 88######",
        (
            _pool(
                _G,
                "Mark Anthony, Juan Carlo, Rafael, Paolo, Jerome, Ramon",
                "Maria Cristina, Angelica, Kristine, Joanna, Patricia, Rowena",
                "Santos, Reyes, Cruz, Bautista, Garcia, Mendoza, Villanueva, Dela Cruz",
            ),
        ),
    ),
    "SG": Locale(
        "Asia/Singapore",
        "en",
        "+65 63######",
        (
            _pool(
                _F,
                "Wei Ming, Jun Jie, Kai Wen, Zhi Hao",
                "Hui Min, Xin Yi, Shu Fen, Jia Hui",
                "Tan, Lim, Ng, Goh, Teo, Chua",
                "zh",
            ),
            _pool(
                _P, "Farid, Iskandar, Hakim", "Nadia, Farah, Aisyah", "Ismail, Rahman, Osman", "ms"
            ),
            _pool(
                _G, "Rajesh, Vikram, Ganesh", "Lakshmi, Anitha, Meena", "Pillai, Nair, Menon", "ta"
            ),
        ),
    ),
    "TH": Locale(
        "Asia/Bangkok",
        "th",
        "+66 2 14#####",
        (
            _pool(
                _G,
                "Anan, Kittipong, Thanawat, Prasert, Wichai, Narong",
                "Nattaya, Siriporn, Pimchanok, Kanokwan, Ratana, Supaporn",
                "Srisuk, Phromsiri, Chaiyaporn, Rattanakul, Saetang, Boonmee, Kaewkla, Thongdee",
            ),
        ),
    ),
    "VN": Locale(
        "Asia/Ho_Chi_Minh",
        "vi",
        "+84 24 39######",
        (
            _pool(
                _F,
                "Văn An, Đức Minh, Quang Huy, Minh Tuấn, Hải Nam, Thành Long",
                "Thị Lan, Ngọc Anh, Thu Hà, Thị Hương, Phương Linh, Thanh Mai",
                "Nguyễn, Trần, Lê, Phạm, Hoàng, Vũ, Đặng, Bùi",
            ),
        ),
    ),
    "AU": Locale(
        "Australia/Sydney",
        "en",
        "+61 2 5550 ####",
        (
            _pool(
                _G,
                "James, Liam, Michael, Daniel, Lachlan, Tom",
                "Sarah, Emily, Olivia, Chloe, Jessica, Kate",
                "Smith, Nguyen, Williams, Brown, Wilson, Taylor, O'Brien, Campbell",
            ),
        ),
    ),
    "CN": Locale(
        "Asia/Shanghai",
        "zh",
        "+86 10 65######",
        (
            _pool(
                _F,
                "Wei, Haoran, Jian, Lei, Zhiqiang, Tao",
                "Fang, Jing, Xiaoyan, Yan, Xue, Ting",
                "Wang, Li, Zhang, Liu, Chen, Yang, Zhao, Huang",
            ),
        ),
    ),
    "IN": Locale(
        "Asia/Kolkata",
        "hi",
        "+91 11 23######",
        (
            _pool(
                _G,
                "Rahul, Amit, Vikram, Sandeep, Arjun, Karthik",
                "Priya, Ananya, Neha, Kavya, Shreya, Pooja",
                "Sharma, Iyer, Reddy, Gupta, Nair, Banerjee, Kulkarni, Joshi",
            ),
        ),
    ),
    "JP": Locale(
        "Asia/Tokyo",
        "ja",
        "+81 3 35## ####",
        (
            _pool(
                _F,
                "Hiroshi, Takeshi, Kenji, Daisuke, Yuki, Shota",
                "Yuko, Akiko, Naomi, Haruka, Ayaka, Mei",
                "Tanaka, Suzuki, Sato, Watanabe, Ito, Yamamoto, Nakamura, Kobayashi",
            ),
        ),
    ),
    "KR": Locale(
        "Asia/Seoul",
        "ko",
        "+82 2 21## ####",
        (
            _pool(
                _F,
                "Min-jun, Ji-ho, Seung-woo, Dong-hyun, Jae-won, Hyun-woo",
                "Ji-yeon, Seo-yeon, Min-ji, Soo-jin, Eun-ji, Ha-eun",
                "Kim, Lee, Park, Choi, Jung, Kang, Cho, Yoon",
            ),
        ),
    ),
    "US": Locale(
        "America/New_York",
        "en",
        "+1 202 555 01##",
        (
            _pool(
                _G,
                "Michael, David, Robert, Chris, Kevin, Brian",
                "Jennifer, Emily, Laura, Megan, Rachel, Karen",
                "Johnson, Miller, Davis, Garcia, Martinez, Anderson, Thompson, Clark",
            ),
        ),
    ),
}


_FINANCE = (Sector.BANKING, Sector.FINANCIAL_MARKETS)


@dataclass(frozen=True)
class State:
    """The bodies the demo invents for one state."""

    code: str
    ict: tuple[str, str]  # name and short name of the ICT ministry or agency
    cert: str  # short name of the national CERT
    telco: str
    bank: str
    civil_society: str
    sector_cert: tuple[str, str, tuple[Sector, ...]] | None = None  # name, short name, sectors


STATES = (
    State(
        "BN",
        ("Ministry of Transport and Infocommunications", "MTIC"),
        "BruCERT",
        "Belait Telecom",
        "Bandar Trust Bank",
        "Brunei Digital Safety Society",
        ("Bruneian Financial Sector CERT", "BN-FinCERT", _FINANCE),
    ),
    State(
        "KH",
        ("Ministry of Post and Telecommunications", "MPTC"),
        "CamCERT",
        "Mekong Mobile",
        "Tonle Sap Commercial Bank",
        "Khmer Open Internet Forum",
        ("Cambodian Financial Sector CERT", "KH-FinCERT", _FINANCE),
    ),
    State(
        "ID",
        ("Ministry of Communication and Digital Affairs", "Komdigi"),
        "IDCERT",
        "Nusantara Seluler",
        "Bank Merapi Sejahtera",
        "Indonesian Digital Rights Circle",
        ("Indonesian Energy Sector CERT", "ID-EnergyCERT", (Sector.ENERGY,)),
    ),
    State(
        "LA",
        ("Ministry of Technology and Communications", "MTC"),
        "LaoCERT",
        "Lanexang Telecom",
        "Vientiane Development Bank",
        "Lao Youth ICT Association",
        ("Lao Energy Sector CERT", "LA-EnergyCERT", (Sector.ENERGY,)),
    ),
    State(
        "MY",
        ("Ministry of Digital", "KD"),
        "MyCERT",
        "Semenanjung Telco",
        "Bank Selat Melaka",
        "Malaysian Cyber Safety Volunteers",
        ("Malaysian Financial Sector CERT", "MY-FinCERT", _FINANCE),
    ),
    State(
        "MM",
        ("Ministry of Transport and Communications", "MOTC"),
        "mmCERT",
        "Ayeyarwady Telecom",
        "Bagan Merchant Bank",
        "Myanmar Digital Literacy Network",
        ("Myanmar Financial Sector CERT", "MM-FinCERT", _FINANCE),
    ),
    State(
        "PH",
        ("Department of Information and Communications Technology", "DICT"),
        "CERT-PH",
        "Kapuluan Telecom",
        "Banco Bayanihan",
        "Philippine Internet Safety Alliance",
        ("Philippine Transport Sector CERT", "PH-TransCERT", (Sector.TRANSPORT,)),
    ),
    State(
        "SG",
        ("Ministry of Digital Development and Information", "MDDI"),
        "SingCERT",
        "Merlion Mobile",
        "Straits Harbour Bank",
        "Singapore Cyber Youth Collective",
        ("Singapore Health Sector CERT", "SG-HealthCERT", (Sector.HEALTH,)),
    ),
    State(
        "TH",
        ("Ministry of Digital Economy and Society", "MDES"),
        "ThaiCERT",
        "Siam Link Telecom",
        "Chao Phraya Bank",
        "Thai Digital Citizens Forum",
        ("Thai Financial Sector CERT", "TH-FinCERT", _FINANCE),
    ),
    State(
        "VN",
        ("Ministry of Information and Communications", "MIC"),
        "VNCERT",
        "Hong Ha Telecom",
        "Red River Commercial Bank",
        "Vietnam Cyber Safety Club",
        ("Vietnamese Financial Sector CERT", "VN-FinCERT", _FINANCE),
    ),
    State(
        "AU",
        ("Department of Communications and the Digital Economy", "DCDE"),
        "AusCERT",
        "Wattle Telecom",
        "Harbourside Bank",
        "Australian Online Safety Collective",
    ),
    State(
        "CN",
        ("Ministry of Industry and Information Technology", "MIIT"),
        "CNCERT",
        "Yangtze Telecom",
        "Pearl River Bank",
        "Beijing Internet Literacy Society",
    ),
    State(
        "IN",
        ("Ministry of Electronics and Information Technology", "MeitY"),
        "CERT-In",
        "Deccan Telecom",
        "Ganga Cooperative Bank",
        "Digital Suraksha Foundation",
    ),
    State(
        "JP",
        ("Digital Agency", "DA"),
        "JPCERT",
        "Sakura Net Communications",
        "Kansai Harbour Bank",
        "Japan Cyber Hygiene Network",
    ),
    State(
        "KR",
        ("Ministry of Science and ICT", "MSIT"),
        "KrCERT",
        "Hangang Telecom",
        "Namsan Savings Bank",
        "Korean Digital Safety Forum",
    ),
    State(
        "US",
        ("National Telecommunications and Information Administration", "NTIA"),
        "US-CERT",
        "Appalachian Telecom",
        "Potomac Savings Bank",
        "Civic Cyber Volunteers",
    ),
)


def ascii_slug(text: str) -> str:
    """Lower-case ASCII letters and digits of a name, for mailboxes and handles."""
    decomposed = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    return re.sub(r"[^a-z0-9]", "", decomposed.encode("ascii", "ignore").decode().lower())


def _full_name(pool: NamePool, given: str, family: str, *, female: bool) -> str:
    if pool.style is NameStyle.FAMILY_GIVEN:
        return f"{family} {given}"
    if pool.style is NameStyle.PATRONYMIC:
        return f"{given} {'binti' if female else 'bin'} {family}"
    return f"{given} {family}"


def invent_person(rng: random.Random, country: str) -> Person:
    """A fictional person of the state, with an initials.family mailbox."""
    pool = rng.choice(LOCALES[country].names)
    female = rng.random() < 0.5
    given = rng.choice(pool.female if female else pool.male)
    family = rng.choice(pool.family)
    initials = "".join(ascii_slug(part)[0] for part in re.split(r"[\s-]+", given))
    return Person(
        name=_full_name(pool, given, family, female=female),
        mailbox=f"{initials}.{ascii_slug(family)}",
        given=given,
        languages=languages(country, pool.language),
    )


def invent_phone(rng: random.Random, country: str) -> str:
    """A fixed-line number in the state's capital, in international format."""
    digits = "".join(str(rng.randrange(10)) if ch == "#" else ch for ch in LOCALES[country].phone)
    number = phonenumbers.parse(digits, None)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def languages(country: str, home: str | None = None) -> list[str]:
    """ISO 639-1 codes a contact works in: the state's language, any home language, English."""
    return sorted({LOCALES[country].language, home or "en", "en"})
