"""Semantic suite: multi-hop relational facts about purchases, stores, cities and countries.

World: a cast of people, products, stores, and real cities in their real countries. Every store is
in exactly one city for the whole realisation and each (person, product) is bought at most once,
so every question has one answer. Statements (canonical forms; see `forms.py` for all):
    purchase  "Alice Moreau bought a lamp at Harbor Books."
    location  "Harbor Books is in Lyon."            (confirmed; repeated verbatim when a store recurs)
    country   "Lyon is in France."                  (hard profile only)
    rumour    "Reportedly, Harbor Books is in Porto."   (hedged and wrong: conflicts with the location)
    misfit    "The lamp is in Lyon."                (off-schema: a product is not located in a city)
Questions ask where a person bought a product:
    two_hop    "In which city did Alice Moreau buy the lamp?"     -> "Lyon"    (purchase, location)
    three_hop  "In which country did Alice Moreau buy the lamp?"  -> "France"  (+ country; hard only)
Each item teaches the asked purchase and its store's location (and the city's country) among
distractors: purchases by the same person elsewhere, the same product bought by others in other
cities, other stores in the same city, random purchases, and (mostly in the hard profile) rumours
about the asked store, misfits naming the asked product in a wrong city, and other cities' countries.
An item's statements are shuffled and taught once each.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import count

from glyph_dist.memory.base import Item, Statement
from glyph_dist.memory.suites.episodic import people
from glyph_dist.memory.suites.forms import Phrasing

COUNTRIES = {
    "France": ("Lyon", "Marseille", "Nantes", "Lille"),
    "Portugal": ("Porto", "Lisbon", "Braga", "Coimbra"),
    "Spain": ("Seville", "Valencia", "Bilbao", "Granada"),
    "Italy": ("Turin", "Naples", "Bologna", "Florence"),
    "Germany": ("Hamburg", "Cologne", "Leipzig", "Dresden"),
    "Poland": ("Krakow", "Gdansk", "Wroclaw", "Poznan"),
    "Japan": ("Osaka", "Kyoto", "Sapporo", "Nagoya"),
    "Canada": ("Toronto", "Montreal", "Calgary", "Halifax"),
    "Brazil": ("Recife", "Curitiba", "Fortaleza", "Manaus"),
    "Australia": ("Perth", "Adelaide", "Brisbane", "Hobart"),
    "Mexico": ("Puebla", "Monterrey", "Oaxaca", "Tijuana"),
    "India": ("Pune", "Jaipur", "Kochi", "Mysore"),
    "Sweden": ("Malmo", "Uppsala", "Gothenburg", "Lund"),
    "Ireland": ("Cork", "Galway", "Limerick", "Sligo"),
    "Norway": ("Bergen", "Trondheim", "Tromso", "Stavanger"),
    "Netherlands": ("Utrecht", "Rotterdam", "Leiden", "Groningen"),
}
COUNTRY_OF = {city: country for country, cities in COUNTRIES.items() for city in cities}
CITIES = tuple(COUNTRY_OF)
STORE_NAMES = ("Harbor", "Maple", "Golden", "Silver", "Northgate", "Riverside", "Oakwood", "Cedar", "Willow",
               "Summit", "Lantern", "Bluebell", "Copper", "Granite", "Meadow", "Orchard", "Beacon", "Juniper",
               "Pinecrest", "Sterling")
STORE_KINDS = ("Books", "Hardware", "Market", "Outfitters", "Home", "Goods", "Emporium", "Traders", "Supply",
               "Gallery")
STORES = tuple(f"{name} {kind}" for name in STORE_NAMES for kind in STORE_KINDS)
PRODUCTS = (
    "lamp", "kettle", "scarf", "umbrella", "teapot", "backpack", "notebook", "blender", "mirror", "clock", "rug",
    "vase", "jacket", "candle", "toaster", "easel", "atlas", "hammock", "guitar", "camera", "bicycle", "helmet",
    "wallet", "compass", "blanket", "saucepan", "radio", "telescope", "chessboard", "globe", "kite", "sweater",
    "violin", "harmonica", "microscope", "typewriter", "stapler", "pillow", "armchair", "ottoman", "tent",
    "printer", "keyboard", "skillet", "doormat", "birdhouse", "thermos", "lantern", "hairbrush", "suitcase")


@dataclass(frozen=True)
class Profile:
    extras: tuple[int, int]  # distractor statements per item (inclusive range; a distractor may add two)
    weights: dict[str, float]  # how often each distractor is drawn
    three_hop: float  # share of three_hop questions (country statements are taught only when > 0)


SETTINGS = {
    "easy": Profile((2, 5), {"same_person": 1, "same_product": 1, "same_city": 1, "random": 3, "rumour": 0.3,
                             "misfit": 0.3, "country": 0}, 0.0),
    "hard": Profile((8, 20), {"same_person": 3, "same_product": 2, "same_city": 2, "random": 1, "rumour": 2,
                              "misfit": 1.5, "country": 1}, 0.5)}


def _article(noun: str) -> str:
    return "an" if noun[0] in "aeiou" else "a"


class World:
    """Store locations fixed for the realisation, and the (person, product) purchases taught so far."""

    def __init__(self, rng: random.Random, cast: list[str]):
        self.rng = rng
        self.cast = cast
        self.city = {store: rng.choice(CITIES) for store in STORES}
        self.stores_in: dict[str, list[str]] = {city: [] for city in CITIES}
        for store in STORES:
            self.stores_in[self.city[store]].append(store)
        self.bought: set[tuple[str, str]] = set()

    def buy(self, person: str | None = None, product: str | None = None) -> tuple[str, str] | None:
        """A fresh (person, product) purchase, the given parts kept; None when none is found."""
        for _ in range(30):
            pair = (person or self.rng.choice(self.cast), product or self.rng.choice(PRODUCTS))
            if pair not in self.bought:
                self.bought.add(pair)
                return pair
        return None

    def store(self, not_in: str | None = None) -> str:
        """A random store, not in the city `not_in`."""
        while self.city[store := self.rng.choice(STORES)] == not_in:
            pass
        return store

    def neighbour(self, store: str) -> str | None:
        """Another store in the city of `store`, if there is one."""
        others = [s for s in self.stores_in[self.city[store]] if s != store]
        return self.rng.choice(others) if others else None

    def other_city(self, city: str) -> str:
        return self.rng.choice([c for c in CITIES if c != city])


def purchase(phrasing: Phrasing, person: str, product: str, store: str) -> str:
    return phrasing.say("purchase", (person, product, store), person=person, a=_article(product), product=product,
                        store=store)


def location(phrasing: Phrasing, store: str, city: str) -> str:
    return phrasing.say("location", (store, city), inner=store, outer=city)


def country(phrasing: Phrasing, city: str) -> str:
    return phrasing.say("location", (city, COUNTRY_OF[city]), inner=city, outer=COUNTRY_OF[city])


def _distractor(kind: str, world: World, phrasing: Phrasing, person: str, product: str, store: str,
                hard: bool) -> list[str]:
    """The statements of one distractor of the asked purchase (empty when the world has none to give)."""
    city = world.city[store]
    rng = world.rng
    if kind == "rumour":
        other = world.other_city(city)
        return [phrasing.say("rumour", (store, other), inner=store, outer=other)]
    if kind == "misfit":
        other = world.other_city(city)
        return [phrasing.say("misfit", (product, other), thing=product, outer=other)]
    if kind == "country":
        return [country(phrasing, world.other_city(city))]
    if kind == "same_city":
        other = world.neighbour(store)
        return [location(phrasing, other, city)] if other else []
    pair = world.buy(person if kind == "same_person" else None, product if kind == "same_product" else None)
    if pair is None:
        return []
    elsewhere = world.store(not_in=None if kind == "random" else city)
    where = world.city[elsewhere]
    with_country = hard and rng.random() < 0.3
    return ([purchase(phrasing, *pair, elsewhere), location(phrasing, elsewhere, where)]
            + ([country(phrasing, where)] if with_country else []))


def generate(n: int, rng: random.Random, profile: str, phrasing: Phrasing, name: str) -> list[Item]:
    settings = SETTINGS[profile]
    world = World(rng, people(rng, 12 + 2 * n))
    distractors, weights = zip(*((k, w) for k, w in settings.weights.items() if w > 0))
    step = count()
    items = []
    for i in range(n):
        while (pair := world.buy()) is None:
            pass
        person, product = pair
        store = world.store()
        city = world.city[store]
        kind = "three_hop" if rng.random() < settings.three_hop else "two_hop"
        evidence = [purchase(phrasing, person, product, store), location(phrasing, store, city)]
        if kind == "three_hop":
            evidence.append(country(phrasing, city))
        statements = dict.fromkeys(evidence)  # distinct texts, in order
        wanted = len(statements) + rng.randint(*settings.extras)
        while len(statements) < wanted:
            drawn = rng.choices(distractors, weights)[0]
            statements.update(dict.fromkeys(_distractor(drawn, world, phrasing, person, product, store,
                                                               profile == "hard")))
        texts = list(statements)
        rng.shuffle(texts)
        unit = "country" if kind == "three_hop" else "city"
        items.append(Item(
            item_id=f"{name}/{i}", suite="semantic", kind=kind,
            teach=tuple(Statement(text, next(step)) for text in texts),
            question=f"In which {unit} did {person} buy the {product}?",
            answer=COUNTRY_OF[city] if kind == "three_hop" else city, evidence=tuple(evidence),
            meta={"person": person, "product": product, "store": store, "city": city, "country": COUNTRY_OF[city]}))
    return items
