"""Reference data behind the synthetic NIPR universe: license classes, lines of authority,
carriers, places, names and the vocabularies NIPR reports.

Everything here is fixed at import and identical on every machine, so a universe
generated from a seed is the same everywhere. Carriers are fictional (the names are built
from word lists, the NAIC codes and FEINs drawn from a fixed seed) so no record can be
mistaken for a real company's; phone numbers use the 555-01xx range and e-mail addresses
the reserved example.* domains for the same reason.
"""

from __future__ import annotations

import random
from typing import NamedTuple

from producersync.model.states import STATE_CODES

__all__ = [
    "ADJUSTER_LOA_PROFILES",
    "AGENCY_WORDS",
    "CARRIERS",
    "CARRIERS_BY_CATEGORY",
    "CARRIER_TERMINATION_REASONS",
    "CITIES",
    "DISPOSITIONS",
    "EMAIL_DOMAINS",
    "FEIN_PREFIXES",
    "FIRM_CE_COMPLIANCE",
    "FIRM_LICENSE_CLASS",
    "FIRST_NAMES",
    "LAST_NAMES",
    "LICENSE_CLASSES",
    "LICENSE_KEPT_DISPOSITIONS",
    "LICENSE_LAPSED",
    "LICENSE_NUMBER_FORMATS",
    "LOAS",
    "NICKNAMES",
    "NO_ADJUSTER_LICENSE_STATES",
    "PERPETUAL_STATES",
    "PERSONAL_NAME_TYPES",
    "PRODUCER_LOA_PROFILES",
    "REGULATORY_DISPOSITIONS",
    "REGULATORY_ORIGINS",
    "REGULATORY_REASONS",
    "RESIDENT_LICENSE_ENDED",
    "STATE_WEIGHTS",
    "STREET_NAMES",
    "STREET_SUFFIXES",
    "Carrier",
    "City",
    "Disposition",
    "LicenseClass",
    "Loa",
]


class Loa(NamedTuple):
    name: str
    code: str
    categories: tuple[str, ...]


class LicenseClass(NamedTuple):
    name: str
    code: str
    agent_types: tuple[str, ...]
    # Relative share of individual producers holding this class.
    weight: int
    # Weighted LOA sets a holder of this class carries on each license.
    loa_profiles: tuple[tuple[int, tuple[str, ...]], ...]
    # The jurisdictions that issue no license of this class (none of its holders lives
    # there, nor holds one there).
    unlicensed_in: frozenset[str] = frozenset()
    # Whether carriers appoint under it: a consultant advises for a fee, selling nothing.
    appointed: bool = True


class Carrier(NamedTuple):
    name: str
    co_code: str
    fein: str
    # LOA categories the carrier appoints producers for.
    categories: tuple[str, ...]


class City(NamedTuple):
    name: str
    zip3: str
    area_code: str


_L = Loa
LOAS: dict[str, Loa] = {
    loa.name: loa
    for loa in (
        _L("Life", "10", ("life",)),
        _L("Property", "12", ("property",)),
        _L("Casualty", "13", ("casualty",)),
        _L("Accident & Health or Sickness", "14", ("health",)),
        _L("Personal Lines", "15", ("property", "casualty")),
        _L("Variable Life and Variable Annuity", "16", ("life", "variable")),
        _L("Credit", "17", ("credit",)),
        _L("Title", "18", ("title",)),
        _L("Surety", "19", ("surety",)),
        _L("Crop", "20", ("crop", "property")),
        _L("Travel", "21", ("travel",)),
        _L("Rental Car", "22", ("limited",)),
        _L("Portable Electronics", "23", ("limited",)),
        _L("Bail Bond", "24", ("surety",)),
        _L("Surplus Lines", "30", ("surplus",)),
        _L("All Lines Adjuster", "40", ("adjuster", "property", "casualty")),
        _L("Property & Casualty Adjuster", "41", ("adjuster", "property", "casualty")),
        _L("Workers' Compensation Adjuster", "42", ("adjuster", "casualty")),
        _L("Crop Adjuster", "43", ("adjuster", "crop")),
        _L("Public Adjuster", "44", ("adjuster", "property")),
    )
}

_LIFE_HEALTH = ("Life", "Accident & Health or Sickness")
_PC = ("Property", "Casualty")
PRODUCER_LOA_PROFILES: tuple[tuple[int, tuple[str, ...]], ...] = (
    (34, _LIFE_HEALTH),
    (24, _PC),
    (14, (*_LIFE_HEALTH, *_PC)),
    (8, (*_LIFE_HEALTH, "Variable Life and Variable Annuity")),
    (6, ("Life",)),
    (5, ("Accident & Health or Sickness",)),
    (5, ("Personal Lines",)),
    (2, ("Personal Lines", *_LIFE_HEALTH)),
    (2, ("Life", "Variable Life and Variable Annuity")),
)
ADJUSTER_LOA_PROFILES: tuple[tuple[int, tuple[str, ...]], ...] = (
    (45, ("All Lines Adjuster",)),
    (35, ("Property & Casualty Adjuster",)),
    (12, ("Workers' Compensation Adjuster",)),
    (8, ("Property & Casualty Adjuster", "Crop Adjuster")),
)

# The jurisdictions with no independent adjuster license (an adjuster working from one
# designates a licensing state as home, which the universe does not model: its adjusters
# live where adjusters are licensed).
NO_ADJUSTER_LICENSE_STATES: frozenset[str] = frozenset(
    {"CO", "DC", "IL", "IA", "KS", "MD", "MA", "MO", "NE", "NJ", "ND", "OH", "PA", "SD", "TN"}
    | {"VA", "WI"}
)

LICENSE_CLASSES: tuple[LicenseClass, ...] = (
    LicenseClass("Insurance Producer", "3", ("Producer",), 880, PRODUCER_LOA_PROFILES),
    LicenseClass(
        "Adjuster", "7", ("Adjuster",), 55, ADJUSTER_LOA_PROFILES, NO_ADJUSTER_LICENSE_STATES
    ),
    # Alabama licenses no public adjuster (representing a policyholder's claim there is
    # the practice of law).
    LicenseClass(
        "Public Adjuster",
        "8",
        ("Public Adjuster",),
        5,
        ((1, ("Public Adjuster",)),),
        frozenset({"AL"}),
    ),
    LicenseClass(
        "Surplus Lines Broker",
        "5",
        ("Surplus Lines Broker",),
        20,
        ((3, ("Surplus Lines",)), (2, ("Surplus Lines", *_PC))),
    ),
    LicenseClass(
        "Limited Lines Producer",
        "4",
        ("Producer",),
        22,
        (
            (5, ("Travel",)),
            (4, ("Credit",)),
            (3, ("Rental Car",)),
            (3, ("Portable Electronics",)),
            (3, ("Crop",)),
            (2, ("Bail Bond",)),
            (1, ("Surety",)),
        ),
    ),
    # Iowa has no title insurance (its state agency, Iowa Title Guaranty, certifies titles).
    LicenseClass("Title Agent", "6", ("Producer",), 15, ((1, ("Title",)),), frozenset({"IA"})),
    LicenseClass(
        "Consultant", "10", ("Consultant",), 3, ((1, _LIFE_HEALTH), (1, _PC)), appointed=False
    ),
)
FIRM_LICENSE_CLASS = LicenseClass(
    "Business Entity Producer",
    "1",
    ("Producer",),
    0,
    (
        (40, _LIFE_HEALTH),
        (30, _PC),
        (25, (*_LIFE_HEALTH, *_PC)),
        (5, ("Title",)),
    ),
)

# Continuing education is an individual's: a business entity completes none, and NIPR
# reports its lines' CE as not applicable.
FIRM_CE_COMPLIANCE = "N/A"

# The other names an individual gives a state on applying for its resident license (an
# alias, a previous name): each home state keeps its record of them. A firm's
# FIRM_BRANCH name is a branch office's, the record of the state it is in.
PERSONAL_NAME_TYPES = frozenset({"ALIAS", "PREVIOUS"})

# Florida licenses do not expire (they stay valid while the CE requirement is met).
PERPETUAL_STATES: frozenset[str] = frozenset({"FL"})

# How each jurisdiction numbers licenses: (letter prefixes, digits); zero digits means
# the state uses the NPN as the license number, as most states now do.
LICENSE_NUMBER_FORMATS: dict[str, tuple[tuple[str, ...], int]] = {
    **{code: ((), 0) for code in STATE_CODES},
    "AL": (("",), 7),
    "AR": (("",), 9),
    "CA": (("0A", "0B", "0C", "0E", "0F", "0G", "0H", "0I", "0K", "4"), 5),
    "CT": (("",), 7),
    "FL": (("A", "E", "G", "P", "W"), 6),
    "LA": (("",), 6),
    "ME": (("PRN", "AGN"), 6),
    "MS": (("100",), 5),
    "NJ": (("",), 7),
    "NY": (("LA-", "PC-", "BR-"), 7),
    "TX": (("",), 7),
    "PR": (("",), 5),
    "GU": (("",), 4),
    "VI": (("",), 4),
}

# Approximate population in hundred-thousands: home states and non-resident licenses
# follow where people (and so producers) are.
STATE_WEIGHTS: dict[str, int] = {
    "AL": 50, "AK": 7, "AZ": 72, "AR": 30, "CA": 390, "CO": 58, "CT": 36, "DE": 10,
    "DC": 7, "FL": 220, "GA": 108, "HI": 14, "ID": 19, "IL": 126, "IN": 68, "IA": 32,
    "KS": 29, "KY": 45, "LA": 46, "ME": 14, "MD": 62, "MA": 70, "MI": 101, "MN": 57,
    "MS": 29, "MO": 62, "MT": 11, "NE": 20, "NV": 31, "NH": 14, "NJ": 93, "NM": 21,
    "NY": 202, "NC": 104, "ND": 8, "OH": 118, "OK": 40, "OR": 42, "PA": 130, "RI": 11,
    "SC": 51, "SD": 9, "TN": 69, "TX": 290, "UT": 33, "VT": 6, "VA": 86, "WA": 77,
    "WV": 18, "WI": 59, "WY": 6, "PR": 32, "GU": 2, "VI": 1,
}  # fmt: skip

_C = City
CITIES: dict[str, tuple[City, ...]] = {
    "AL": (_C("Birmingham", "352", "205"), _C("Montgomery", "361", "334"),
           _C("Huntsville", "358", "256"), _C("Mobile", "366", "251")),
    "AK": (_C("Anchorage", "995", "907"), _C("Fairbanks", "997", "907"),
           _C("Juneau", "998", "907")),
    "AZ": (_C("Phoenix", "850", "602"), _C("Tucson", "857", "520"), _C("Mesa", "852", "480"),
           _C("Scottsdale", "852", "480")),
    "AR": (_C("Little Rock", "722", "501"), _C("Fayetteville", "727", "479"),
           _C("Fort Smith", "729", "479")),
    "CA": (_C("Los Angeles", "900", "213"), _C("San Diego", "921", "619"),
           _C("San Jose", "951", "408"), _C("San Francisco", "941", "415"),
           _C("Sacramento", "958", "916"), _C("Fresno", "937", "559"),
           _C("Irvine", "926", "949")),
    "CO": (_C("Denver", "802", "303"), _C("Colorado Springs", "809", "719"),
           _C("Fort Collins", "805", "970"), _C("Aurora", "800", "303")),
    "CT": (_C("Hartford", "061", "860"), _C("New Haven", "065", "203"),
           _C("Stamford", "069", "203")),
    "DE": (_C("Wilmington", "198", "302"), _C("Dover", "199", "302"),
           _C("Newark", "197", "302")),
    "DC": (_C("Washington", "200", "202"),),
    "FL": (_C("Miami", "331", "305"), _C("Tampa", "336", "813"), _C("Orlando", "328", "407"),
           _C("Jacksonville", "322", "904"), _C("Fort Lauderdale", "333", "954"),
           _C("Tallahassee", "323", "850")),
    "GA": (_C("Atlanta", "303", "404"), _C("Savannah", "314", "912"),
           _C("Augusta", "309", "706"), _C("Alpharetta", "300", "770")),
    "HI": (_C("Honolulu", "968", "808"), _C("Hilo", "967", "808"), _C("Kailua", "967", "808")),
    "ID": (_C("Boise", "837", "208"), _C("Idaho Falls", "834", "208"),
           _C("Coeur d'Alene", "838", "208")),
    "IL": (_C("Chicago", "606", "312"), _C("Springfield", "627", "217"),
           _C("Naperville", "605", "630"), _C("Peoria", "616", "309"),
           _C("Schaumburg", "601", "847")),
    "IN": (_C("Indianapolis", "462", "317"), _C("Fort Wayne", "468", "260"),
           _C("Evansville", "477", "812"), _C("Carmel", "460", "317")),
    "IA": (_C("Des Moines", "503", "515"), _C("Cedar Rapids", "524", "319"),
           _C("Davenport", "528", "563")),
    "KS": (_C("Wichita", "672", "316"), _C("Overland Park", "662", "913"),
           _C("Topeka", "666", "785")),
    "KY": (_C("Louisville", "402", "502"), _C("Lexington", "405", "859"),
           _C("Bowling Green", "421", "270")),
    "LA": (_C("New Orleans", "701", "504"), _C("Baton Rouge", "708", "225"),
           _C("Shreveport", "711", "318")),
    "ME": (_C("Portland", "041", "207"), _C("Bangor", "044", "207"),
           _C("Augusta", "043", "207")),
    "MD": (_C("Baltimore", "212", "410"), _C("Rockville", "208", "301"),
           _C("Annapolis", "214", "410"), _C("Columbia", "210", "410")),
    "MA": (_C("Boston", "021", "617"), _C("Worcester", "016", "508"),
           _C("Springfield", "011", "413"), _C("Quincy", "021", "617")),
    "MI": (_C("Detroit", "482", "313"), _C("Grand Rapids", "495", "616"),
           _C("Lansing", "489", "517"), _C("Troy", "480", "248"),
           _C("Ann Arbor", "481", "734")),
    "MN": (_C("Minneapolis", "554", "612"), _C("Saint Paul", "551", "651"),
           _C("Rochester", "559", "507"), _C("Bloomington", "554", "952")),
    "MS": (_C("Jackson", "392", "601"), _C("Gulfport", "395", "228"),
           _C("Tupelo", "388", "662")),
    "MO": (_C("Kansas City", "641", "816"), _C("Saint Louis", "631", "314"),
           _C("Springfield", "658", "417"), _C("Columbia", "652", "573")),
    "MT": (_C("Billings", "591", "406"), _C("Missoula", "598", "406"),
           _C("Helena", "596", "406")),
    "NE": (_C("Omaha", "681", "402"), _C("Lincoln", "685", "402"),
           _C("Grand Island", "688", "308")),
    "NV": (_C("Las Vegas", "891", "702"), _C("Reno", "895", "775"),
           _C("Henderson", "890", "702")),
    "NH": (_C("Manchester", "031", "603"), _C("Concord", "033", "603"),
           _C("Nashua", "030", "603")),
    "NJ": (_C("Newark", "071", "973"), _C("Jersey City", "073", "201"),
           _C("Princeton", "085", "609"), _C("Morristown", "079", "973"),
           _C("Cherry Hill", "080", "856")),
    "NM": (_C("Albuquerque", "871", "505"), _C("Santa Fe", "875", "505"),
           _C("Las Cruces", "880", "575")),
    "NY": (_C("New York", "100", "212"), _C("Buffalo", "142", "716"),
           _C("Rochester", "146", "585"), _C("Albany", "122", "518"),
           _C("Syracuse", "132", "315"), _C("Melville", "117", "631")),
    "NC": (_C("Charlotte", "282", "704"), _C("Raleigh", "276", "919"),
           _C("Greensboro", "274", "336"), _C("Durham", "277", "919")),
    "ND": (_C("Fargo", "581", "701"), _C("Bismarck", "585", "701"),
           _C("Grand Forks", "582", "701")),
    "OH": (_C("Columbus", "432", "614"), _C("Cleveland", "441", "216"),
           _C("Cincinnati", "452", "513"), _C("Toledo", "436", "419"),
           _C("Dayton", "454", "937")),
    "OK": (_C("Oklahoma City", "731", "405"), _C("Tulsa", "741", "918"),
           _C("Norman", "730", "405")),
    "OR": (_C("Portland", "972", "503"), _C("Salem", "973", "503"),
           _C("Eugene", "974", "541"), _C("Bend", "977", "541")),
    "PA": (_C("Philadelphia", "191", "215"), _C("Pittsburgh", "152", "412"),
           _C("Harrisburg", "171", "717"), _C("Allentown", "181", "610"),
           _C("Erie", "165", "814")),
    "RI": (_C("Providence", "029", "401"), _C("Warwick", "028", "401"),
           _C("Cranston", "029", "401")),
    "SC": (_C("Columbia", "292", "803"), _C("Charleston", "294", "843"),
           _C("Greenville", "296", "864")),
    "SD": (_C("Sioux Falls", "571", "605"), _C("Rapid City", "577", "605"),
           _C("Pierre", "575", "605")),
    "TN": (_C("Nashville", "372", "615"), _C("Memphis", "381", "901"),
           _C("Knoxville", "379", "865"), _C("Chattanooga", "374", "423")),
    "TX": (_C("Houston", "770", "713"), _C("Dallas", "752", "214"), _C("Austin", "787", "512"),
           _C("San Antonio", "782", "210"), _C("Fort Worth", "761", "817"),
           _C("Plano", "750", "972")),
    "UT": (_C("Salt Lake City", "841", "801"), _C("Provo", "846", "801"),
           _C("Ogden", "844", "801")),
    "VT": (_C("Burlington", "054", "802"), _C("Montpelier", "056", "802"),
           _C("Rutland", "057", "802")),
    "VA": (_C("Richmond", "232", "804"), _C("Virginia Beach", "234", "757"),
           _C("Arlington", "222", "703"), _C("Roanoke", "240", "540")),
    "WA": (_C("Seattle", "981", "206"), _C("Spokane", "992", "509"),
           _C("Tacoma", "984", "253"), _C("Bellevue", "980", "425")),
    "WV": (_C("Charleston", "253", "304"), _C("Huntington", "257", "304"),
           _C("Morgantown", "265", "304")),
    "WI": (_C("Milwaukee", "532", "414"), _C("Madison", "537", "608"),
           _C("Green Bay", "543", "920")),
    "WY": (_C("Cheyenne", "820", "307"), _C("Casper", "826", "307"),
           _C("Jackson", "830", "307")),
    "PR": (_C("San Juan", "009", "787"), _C("Ponce", "007", "787"),
           _C("Bayamon", "009", "787")),
    "GU": (_C("Hagatna", "969", "671"), _C("Tamuning", "969", "671")),
    "VI": (_C("Charlotte Amalie", "008", "340"), _C("Christiansted", "008", "340")),
}  # fmt: skip

FIRST_NAMES: tuple[str, ...] = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
    "Sarah", "Christopher", "Karen", "Charles", "Lisa", "Daniel", "Nancy", "Matthew", "Betty",
    "Anthony", "Sandra", "Mark", "Margaret", "Donald", "Ashley", "Steven", "Kimberly", "Andrew",
    "Emily", "Paul", "Donna", "Joshua", "Michelle", "Kenneth", "Carol", "Kevin", "Amanda",
    "Brian", "Melissa", "Timothy", "Deborah", "Ronald", "Stephanie", "George", "Rebecca",
    "Jason", "Sharon", "Edward", "Laura", "Jeffrey", "Cynthia", "Ryan", "Dorothy", "Jacob",
    "Amy", "Nicholas", "Kathleen", "Gary", "Angela", "Eric", "Shirley", "Jonathan", "Emma",
    "Stephen", "Brenda", "Larry", "Pamela", "Justin", "Nicole", "Scott", "Anna", "Brandon",
    "Samantha", "Benjamin", "Katherine", "Samuel", "Christine", "Gregory", "Debra", "Alexander",
    "Rachel", "Patrick", "Carolyn", "Frank", "Janet", "Raymond", "Maria", "Jack", "Olivia",
    "Dennis", "Heather", "Jerry", "Helen", "Tyler", "Catherine", "Aaron", "Diane", "Jose",
    "Julie", "Adam", "Victoria", "Nathan", "Joyce", "Henry", "Lauren", "Zachary", "Kelly",
    "Douglas", "Christina", "Peter", "Ruth", "Kyle", "Joan", "Noah", "Virginia", "Ethan",
    "Judith", "Jeremy", "Evelyn", "Christian", "Hannah", "Walter", "Andrea", "Keith", "Megan",
    "Austin", "Cheryl", "Roger", "Jacqueline", "Terry", "Madison", "Sean", "Teresa", "Gerald",
    "Abigail", "Carl", "Sophia", "Dylan", "Martha", "Harold", "Sara", "Jordan", "Gloria",
    "Jesse", "Janice", "Bryan", "Kathryn", "Lawrence", "Ann", "Arthur", "Isabella", "Gabriel",
    "Judy", "Bruce", "Charlotte", "Logan", "Julia", "Billy", "Grace", "Joe", "Amber", "Alan",
    "Alice", "Juan", "Denise", "Elijah", "Danielle", "Willie", "Marilyn", "Albert", "Beverly",
    "Wayne", "Julian", "Randy", "Natalie", "Mason", "Diana", "Vincent", "Brittany", "Liam",
    "Theresa", "Roy", "Kayla", "Bobby", "Alexis", "Caleb", "Doris", "Bradley", "Lori",
    "Russell", "Tiffany", "Lucas", "Priya", "Wei", "Mei", "Carlos", "Sofia", "Luis", "Ana",
    "Miguel", "Lucia", "Hiroshi", "Yuki", "Mohammed", "Fatima", "Tran", "Linh", "Ivan", "Olga",
)  # fmt: skip

LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans",
    "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris",
    "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson",
    "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson",
    "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes",
    "Price", "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster",
    "Jimenez", "Powell", "Jenkins", "Perry", "Russell", "Sullivan", "Bell", "Coleman", "Butler",
    "Henderson", "Barnes", "Gonzales", "Fisher", "Vasquez", "Simmons", "Romero", "Jordan",
    "Patterson", "Alexander", "Hamilton", "Graham", "Reynolds", "Griffin", "Wallace", "Moreno",
    "West", "Cole", "Hayes", "Bryant", "Herrera", "Gibson", "Ellis", "Tran", "Medina", "Aguilar",
    "Stevens", "Murray", "Ford", "Castro", "Marshall", "Owens", "Harrison", "Fernandez",
    "McDonald", "Woods", "Washington", "Kennedy", "Wells", "Vargas", "Henry", "Chen", "Freeman",
    "Webb", "Tucker", "Guzman", "Burns", "Crawford", "Olson", "Simpson", "Porter", "Hunter",
    "Gordon", "Mendez", "Silva", "Shaw", "Snyder", "Mason", "Dixon", "Munoz", "Hunt", "Hicks",
    "Holmes", "Palmer", "Wagner", "Black", "Robertson", "Boyd", "Rose", "Stone", "Salazar",
    "Fox", "Warren", "Mills", "Meyer", "Rice", "Schmidt", "Garza", "Daniels", "Ferguson",
    "Nichols", "Stephens", "Soto", "Weaver", "Ryan", "Gardner", "Payne", "Grant", "Dunn",
    "O'Brien", "O'Connor", "Kowalski", "Nowak", "Schultz", "Yamamoto", "Wong", "Singh", "Shah",
    "Kaur", "Ali", "Khan", "Ivanov", "Novak", "Larsen", "Johansson", "Rossi", "Russo", "Bianchi",
)  # fmt: skip

NICKNAMES: dict[str, str] = {
    "Robert": "Bob", "William": "Bill", "Richard": "Dick", "James": "Jim", "John": "Jack",
    "Michael": "Mike", "Joseph": "Joe", "Thomas": "Tom", "Charles": "Chuck", "Daniel": "Dan",
    "Matthew": "Matt", "Anthony": "Tony", "Christopher": "Chris", "Elizabeth": "Beth",
    "Margaret": "Peggy", "Patricia": "Pat", "Jennifer": "Jenny", "Katherine": "Kate",
    "Kimberly": "Kim", "Deborah": "Debbie", "Rebecca": "Becky", "Samantha": "Sam",
    "Alexander": "Alex", "Nicholas": "Nick", "Benjamin": "Ben", "Jonathan": "Jon",
    "Edward": "Ed", "Gregory": "Greg", "Stephen": "Steve", "Steven": "Steve", "Timothy": "Tim",
    "Kenneth": "Ken", "Donald": "Don", "Ronald": "Ron", "Lawrence": "Larry", "Victoria": "Vicky",
}  # fmt: skip

STREET_NAMES: tuple[str, ...] = (
    "Main", "Oak", "Maple", "Washington", "Park", "Elm", "Lake", "Hill", "Pine", "Cedar",
    "Lincoln", "Jefferson", "Madison", "Franklin", "Jackson", "Highland", "Sunset", "Church",
    "Walnut", "Spring", "Ridge", "Meadow", "Forest", "River", "Willow", "Chestnut", "Adams",
    "Center", "Market", "Broad", "Union", "Liberty", "Prospect", "Mill", "Valley", "Cherry",
    "Dogwood", "Magnolia", "Hickory", "Birch", "Colonial", "Greenwood", "Harbor", "Lakeview",
    "Orchard", "Sycamore", "Commerce", "Industrial", "Corporate", "Executive", "Peachtree",
    "Wilshire", "Michigan", "Lexington", "Canal", "Bayshore", "Ocean", "Mountain View",
)  # fmt: skip
STREET_SUFFIXES: tuple[str, ...] = (
    "St",
    "Ave",
    "Rd",
    "Dr",
    "Blvd",
    "Ln",
    "Way",
    "Ct",
    "Pl",
    "Pkwy",
    "Cir",
    "Ter",
)

AGENCY_WORDS: tuple[str, ...] = (
    "Allied", "Anchor", "Atlantic", "Beacon", "Bluewater", "Cardinal", "Cedar Ridge",
    "Centennial", "Clearview", "Cobalt", "Commonwealth", "Compass", "Copper Canyon",
    "Cornerstone", "Crescent", "Eagle", "Empire", "Evergreen", "Fairway", "First Colonial",
    "Frontier", "Garden State", "Golden Gate", "Granite State", "Great Lakes", "Great Plains",
    "Harbor", "Harvest", "Heartland", "Heritage", "Homestead", "Horizon", "Independence",
    "Iron Bridge", "Keystone", "Lakeshore", "Landmark", "Lighthouse", "Lone Star", "Magnolia",
    "Maple Leaf", "Meridian", "Midwest", "Minuteman", "Mountain States", "North Star",
    "Oak Hollow", "Old Dominion", "Pacific Crest", "Palmetto", "Patriot", "Peachtree",
    "Piedmont", "Pinnacle", "Pioneer", "Prairie", "Red River", "Redwood", "Riverbend",
    "Rocky Mountain", "Sagebrush", "Sentry Point", "Sierra", "Silver State", "Southern Cross",
    "Stonegate", "Summit", "Sunbelt", "Tidewater", "Timberline", "Trailhead", "Twin Rivers",
    "Valley Forge", "Vanguard", "Whitestone", "Willow Creek", "Yankee", "Bayou", "Blue Ridge",
    "Cascade", "Chesapeake", "Coastal", "Delta", "Gulf Coast", "High Desert", "Ozark",
)  # fmt: skip

EMAIL_DOMAINS: tuple[str, ...] = ("example.com", "example.net", "example.org")

# Why a carrier ends one appointment while the producer and the license go on. Not
# "License Expired", which a lapse gives every appointment in its state on its date, nor
# "Deceased", which would end the producer's every appointment and license at once.
CARRIER_TERMINATION_REASONS: tuple[tuple[int, str], ...] = (
    (46, "Not for Cause"),
    (18, "Voluntary"),
    (12, "Company Terminated"),
    (6, "Non-Renewal"),
    (4, "Appointment Lapsed"),
    (3, "For Cause"),
    (1, "Company Merger"),
)

# Why the appointments on a license end with it: it lapsed, or (a non-resident license)
# the state ended it with the holder's resident license, on which it rests.
LICENSE_LAPSED = "License Expired"
RESIDENT_LICENSE_ENDED = "Resident License Inactive"

REGULATORY_REASONS: tuple[str, ...] = (
    "Failure to Complete Continuing Education",
    "Failure to Pay Child Support",
    "Failure to Report Administrative Action",
    "Failure to Respond to Department Inquiry",
    "Failure to Remit Premium",
    "Misrepresentation",
    "Misappropriation of Funds",
    "Unlicensed Activity",
    "Forgery",
    "Fraud",
    "Felony Conviction",
    "Twisting",
    "Late Renewal",
    "Failure to Maintain Errors and Omissions Coverage",
    "Providing False Information on Application",
)
REGULATORY_ORIGINS: tuple[str, ...] = (
    "Department of Insurance",
    "Other State",
    "Consumer Complaint",
    "Insurance Company",
    "FINRA",
    "Law Enforcement",
    "Department Audit",
)


class Disposition(NamedTuple):
    """What a regulatory action's disposition orders: whether the license in the state is
    not in force under it (revoked, suspended, surrendered, or a license denied), and
    whether a fine (``penalty_fine_forfeiture``) and a length of order come with it:
    ``always``, ``never`` or ``maybe``."""

    name: str
    ends_license: bool
    fine: str
    length: str


_D = Disposition
DISPOSITIONS: dict[str, Disposition] = {
    d.name: d
    for d in (
        _D("Fined", False, "always", "never"),
        _D("Consent Order", False, "maybe", "maybe"),
        _D("License Revoked", True, "maybe", "never"),
        _D("License Suspended", True, "maybe", "always"),
        _D("Cease And Desist", False, "maybe", "never"),
        _D("Probation", False, "maybe", "always"),
        _D("Reprimand", False, "maybe", "never"),
        _D("License Denied", True, "never", "never"),
        _D("License Surrendered", True, "maybe", "never"),
        _D("Dismissed", False, "never", "never"),
    )
}
REGULATORY_DISPOSITIONS: tuple[str, ...] = tuple(DISPOSITIONS)
# Those a state orders while the producer's license there stays in force.
LICENSE_KEPT_DISPOSITIONS: tuple[str, ...] = tuple(
    d.name for d in DISPOSITIONS.values() if not d.ends_license
)

# Templates per carrier kind, with the LOA categories that kind appoints for.
_CARRIER_KINDS: tuple[tuple[int, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        76,
        ("life", "health", "variable"),
        (
            "{} Life Insurance Company",
            "{} Mutual Life Insurance Company",
            "{} Life and Annuity Company",
            "{} National Life Insurance Company",
            "{} Life Assurance Company",
        ),
    ),
    (
        78,
        ("property", "casualty", "crop", "surety"),
        (
            "{} Casualty Company",
            "{} Property and Casualty Insurance Company",
            "{} Mutual Insurance Company",
            "{} Fire and Marine Insurance Company",
            "{} Indemnity Company",
            "{} General Insurance Company",
        ),
    ),
    (22, ("health",), ("{} Health Plan, Inc.", "{} Health Insurance Company")),
    (8, ("title",), ("{} Title Insurance Company",)),
    # Admitted carriers only: a surplus lines insurer is not admitted in the state, and
    # appoints no one there (a surplus lines broker places business with it, unappointed).
    (
        16,
        ("travel", "limited", "credit", "surety"),
        (
            "{} Specialty Insurance Company",
            "{} Select Insurance Company",
            "{} Assurance Company",
        ),
    ),
)

# Prefixes the IRS actually assigns, so FEINs look plausible.
FEIN_PREFIXES: tuple[str, ...] = tuple(
    f"{n:02d}"
    for n in (
        *range(1, 7), *range(10, 17), *range(20, 28), *range(30, 49), *range(50, 69),
        *range(71, 78), *range(80, 89), *range(90, 96), 98, 99,
    )
)  # fmt: skip


def _carriers() -> tuple[Carrier, ...]:
    rng = random.Random(20250601)
    total = sum(count for count, _, _ in _CARRIER_KINDS)
    codes = rng.sample(range(10000, 100000), total)
    carriers: list[Carrier] = []
    used: set[str] = set()
    for count, categories, templates in _CARRIER_KINDS:
        made = 0
        while made < count:
            name = rng.choice(templates).format(rng.choice(AGENCY_WORDS))
            if name in used:
                continue
            used.add(name)
            fein = f"{rng.choice(FEIN_PREFIXES)}-{rng.randrange(10**7):07d}"
            carriers.append(Carrier(name, f"{codes[len(carriers)]:05d}", fein, categories))
            made += 1
    return tuple(carriers)


CARRIERS: tuple[Carrier, ...] = _carriers()

CARRIERS_BY_CATEGORY: dict[str, tuple[Carrier, ...]] = {
    category: tuple(c for c in CARRIERS if category in c.categories)
    for category in sorted({cat for c in CARRIERS for cat in c.categories})
}
