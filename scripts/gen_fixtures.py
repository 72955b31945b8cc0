#!/usr/bin/env python3
"""Generates the seed fixtures in fixtures/ (committed; rerun only to change them).

Stores are real localities of fixtures/localities.csv with a delivery zone drawn around
each (an irregular polygon of about 2.5-4 km); the catalogue is every brand x variant x
pack of a hand-written list per shelf, with prices in paise; users and delivery partners
get Indian names and phone numbers. Deterministic (seeded)."""
import csv, json, math, random
from pathlib import Path

R = random.Random(2026)
OUT = Path(__file__).resolve().parent.parent / "fixtures"

STORES = [  # code, locality (must be in localities.csv), opens, closes
    ("BLR-KOR", "Koramangala", "00:00", "00:00"), ("BLR-IND", "Indiranagar", "06:00", "01:00"),
    ("BLR-HSR", "HSR Layout", "06:00", "02:00"), ("BLR-WHF", "Whitefield", "06:00", "00:00"),
    ("BLR-JAY", "Jayanagar", "06:00", "23:00"), ("BLR-MAL", "Malleshwaram", "06:00", "23:00"),
    ("BLR-ELC", "Electronic City", "06:00", "01:00"), ("BLR-HEB", "Hebbal", "06:00", "00:00"),
    ("MUM-AND", "Andheri West", "00:00", "00:00"), ("MUM-BAN", "Bandra West", "06:00", "02:00"),
    ("MUM-POW", "Powai", "06:00", "01:00"), ("MUM-DAD", "Dadar West", "06:00", "00:00"),
    ("MUM-MAL", "Malad West", "06:00", "00:00"), ("MUM-CHE", "Chembur", "06:00", "23:00"),
]

CATEGORIES = [  # slug, name, parent
    ("fruits-vegetables", "Fruits & Vegetables", ""), ("fresh-fruits", "Fresh Fruits", "fruits-vegetables"),
    ("fresh-vegetables", "Fresh Vegetables", "fruits-vegetables"), ("herbs-seasonings", "Herbs & Seasonings", "fruits-vegetables"),
    ("dairy-breakfast", "Dairy Bread & Eggs", ""), ("milk", "Milk", "dairy-breakfast"), ("curd-yogurt", "Curd & Yogurt", "dairy-breakfast"),
    ("butter-cheese", "Butter & Cheese", "dairy-breakfast"), ("paneer-tofu", "Paneer & Tofu", "dairy-breakfast"),
    ("bread-eggs", "Bread & Eggs", "dairy-breakfast"), ("breakfast-cereals", "Breakfast Cereals", "dairy-breakfast"),
    ("staples", "Atta Rice Oil & Dals", ""), ("atta-flours", "Atta & Flours", "staples"), ("rice", "Rice", "staples"),
    ("dals-pulses", "Dals & Pulses", "staples"), ("oils-ghee", "Oils & Ghee", "staples"), ("masalas-spices", "Masalas & Spices", "staples"),
    ("salt-sugar", "Salt Sugar & Jaggery", "staples"),
    ("snacks", "Snacks & Munchies", ""), ("chips-crisps", "Chips & Crisps", "snacks"), ("namkeen", "Namkeen", "snacks"),
    ("biscuits-cookies", "Biscuits & Cookies", "snacks"), ("chocolates", "Chocolates", "snacks"), ("sweets", "Indian Sweets", "snacks"),
    ("beverages", "Drinks & Juices", ""), ("soft-drinks", "Soft Drinks", "beverages"), ("juices", "Juices", "beverages"),
    ("tea", "Tea", "beverages"), ("coffee", "Coffee", "beverages"), ("water-soda", "Water & Soda", "beverages"),
    ("instant-food", "Instant & Frozen Food", ""), ("noodles-pasta", "Noodles & Pasta", "instant-food"),
    ("ready-to-eat", "Ready to Eat", "instant-food"), ("frozen", "Frozen Snacks", "instant-food"), ("ice-cream", "Ice Creams", "instant-food"),
    ("sauces-spreads", "Sauces & Spreads", "instant-food"),
    ("household", "Household", ""), ("detergents", "Detergents", "household"), ("dishwash", "Dishwash", "household"),
    ("cleaners", "Floor & Toilet Cleaners", "household"), ("pooja", "Pooja Needs", "household"),
    ("personal-care", "Personal Care", ""), ("bath-body", "Bath & Body", "personal-care"), ("hair-care", "Hair Care", "personal-care"),
    ("oral-care", "Oral Care", "personal-care"), ("skin-care", "Skin Care", "personal-care"),
    ("baby-care", "Baby Care", ""), ("diapers", "Diapers & Wipes", "baby-care"), ("baby-food", "Baby Food", "baby-care"),
]

# shelf -> (brands, variants, packs as (unit, price in rupees))
SHELVES = {
    "fresh-fruits": (["Fresho", "Farm Fresh"], ["Banana Robusta", "Apple Shimla", "Apple Royal Gala", "Pomegranate", "Papaya", "Watermelon", "Mango Alphonso", "Mango Banganapalli", "Orange Nagpur", "Mosambi", "Guava", "Grapes Green", "Grapes Black", "Pineapple", "Kiwi", "Pear", "Chikoo", "Muskmelon", "Tender Coconut", "Custard Apple"], [("500 g", 45), ("1 kg", 85), ("2 kg", 160)]),
    "fresh-vegetables": (["Fresho", "Farm Fresh"], ["Onion", "Tomato Hybrid", "Potato", "Carrot Ooty", "Beans", "Capsicum Green", "Cauliflower", "Cabbage", "Brinjal", "Lady Finger", "Cucumber", "Bottle Gourd", "Bitter Gourd", "Beetroot", "Radish", "Drumstick", "Sweet Corn", "Green Peas", "Spinach", "Methi"], [("250 g", 18), ("500 g", 32), ("1 kg", 58)]),
    "herbs-seasonings": (["Fresho", "Farm Fresh"], ["Coriander Leaves", "Mint Leaves", "Curry Leaves", "Ginger", "Garlic", "Green Chilli", "Lemon", "Spring Onion"], [("100 g", 12), ("250 g", 28)]),
    "milk": (["Amul", "Nandini", "Mother Dairy", "Heritage", "Akshayakalpa", "Gowardhan", "Aarey", "Milky Mist"], ["Taaza Toned Milk", "Gold Full Cream Milk", "Double Toned Milk", "Cow Milk", "A2 Milk", "Slim Skimmed Milk"], [("500 ml", 28), ("1 l", 54)]),
    "curd-yogurt": (["Amul", "Nandini", "Mother Dairy", "Epigamia", "Milky Mist", "Heritage", "Nestle a+"], ["Dahi", "Greek Yogurt Blueberry", "Greek Yogurt Mango", "Probiotic Curd", "Mishti Doi", "Lassi", "Buttermilk"], [("200 g", 25), ("400 g", 45), ("1 kg", 95)]),
    "butter-cheese": (["Amul", "Britannia", "Go", "Mother Dairy", "Nandini"], ["Salted Butter", "Unsalted Butter", "Cheese Slices", "Cheese Block", "Mozzarella Shredded", "Cheese Spread"], [("100 g", 60), ("200 g", 115), ("500 g", 275)]),
    "paneer-tofu": (["Amul", "Milky Mist", "Mother Dairy", "Nandini", "Akshayakalpa"], ["Fresh Paneer", "Malai Paneer", "Low Fat Paneer", "Tofu"], [("200 g", 90), ("500 g", 210), ("1 kg", 400)]),
    "bread-eggs": (["Modern", "Britannia", "English Oven", "Harvest Gold", "Fresho"], ["White Bread", "Brown Bread", "Whole Wheat Bread", "Multigrain Bread", "Pav", "Burger Buns", "Farm Eggs", "Brown Eggs"], [("6 pcs", 45), ("400 g", 45), ("12 pcs", 90)]),
    "breakfast-cereals": (["Kellogg's", "Quaker", "Saffola", "Bagrry's", "True Elements", "Yogabar"], ["Corn Flakes", "Chocos", "Oats", "Muesli Fruit & Nut", "Granola", "Masala Oats"], [("250 g", 120), ("500 g", 220), ("1 kg", 399)]),
    "atta-flours": (["Aashirvaad", "Pillsbury", "Fortune", "Nature Fresh", "24 Mantra", "Rajdhani"], ["Whole Wheat Atta", "Multigrain Atta", "Maida", "Besan", "Rice Flour", "Ragi Flour", "Sooji Rava"], [("1 kg", 65), ("5 kg", 280), ("10 kg", 540)]),
    "rice": (["India Gate", "Daawat", "Kohinoor", "Fortune", "24 Mantra", "Royal"], ["Basmati Rice Classic", "Basmati Rice Dubar", "Sona Masoori Rice", "Brown Rice", "Kolam Rice", "Idli Rice"], [("1 kg", 110), ("5 kg", 520)]),
    "dals-pulses": (["Tata Sampann", "24 Mantra", "Fortune", "Rajdhani", "Fresho"], ["Toor Dal", "Moong Dal", "Chana Dal", "Masoor Dal", "Urad Dal", "Rajma", "Kabuli Chana", "Green Moong"], [("500 g", 80), ("1 kg", 155)]),
    "oils-ghee": (["Fortune", "Saffola", "Gemini", "Dhara", "Amul", "Gowardhan", "Figaro"], ["Sunflower Oil", "Rice Bran Oil", "Groundnut Oil", "Mustard Oil", "Cow Ghee", "Olive Oil"], [("500 ml", 120), ("1 l", 195), ("5 l", 920)]),
    "masalas-spices": (["MDH", "Everest", "Catch", "Eastern", "Aachi", "MTR"], ["Turmeric Powder", "Red Chilli Powder", "Coriander Powder", "Garam Masala", "Chicken Masala", "Sambar Powder", "Kitchen King", "Jeera"], [("50 g", 35), ("100 g", 65), ("200 g", 120)]),
    "salt-sugar": (["Tata", "Aashirvaad", "Dhampur", "Madhur", "Catch"], ["Iodised Salt", "Rock Salt", "Sugar", "Jaggery Powder", "Brown Sugar"], [("500 g", 25), ("1 kg", 48)]),
    "chips-crisps": (["Lay's", "Bingo", "Pringles", "Too Yumm", "Uncle Chipps", "Balaji"], ["Classic Salted", "Magic Masala", "Cream & Onion", "Tomato Tango", "Chilli Lime", "Peri Peri"], [("52 g", 20), ("90 g", 40), ("150 g", 60)]),
    "namkeen": (["Haldiram's", "Bikaji", "Balaji", "Bikanervala", "Garden"], ["Aloo Bhujia", "Moong Dal", "Khatta Meetha", "Navratan Mix", "Bhujia Sev", "Peanuts Masala", "Chana Jor Garam", "Mixture"], [("150 g", 45), ("400 g", 105), ("1 kg", 240)]),
    "biscuits-cookies": (["Britannia", "Parle", "Sunfeast", "Unibic", "McVitie's", "Cadbury"], ["Good Day Cashew", "Marie Gold", "Bourbon", "Digestive", "Choco Chip Cookies", "Milk Bikis", "Hide & Seek", "Nice Time"], [("75 g", 10), ("150 g", 30), ("300 g", 55)]),
    "chocolates": (["Cadbury", "Nestle", "Amul", "Ferrero", "Lindt", "Hershey's"], ["Dairy Milk", "Dairy Milk Silk", "KitKat", "Dark Chocolate 55%", "Fruit & Nut", "Perk", "5 Star"], [("40 g", 40), ("150 g", 160)]),
    "sweets": (["Haldiram's", "Bikanervala", "Gits", "MTR"], ["Rasgulla", "Gulab Jamun", "Soan Papdi", "Kaju Katli", "Mysore Pak", "Besan Laddoo"], [("250 g", 110), ("500 g", 200), ("1 kg", 380)]),
    "soft-drinks": (["Coca-Cola", "Thums Up", "Sprite", "Pepsi", "Limca", "Fanta", "Mountain Dew", "7Up"], ["Original", "Zero Sugar"], [("300 ml", 40), ("750 ml", 45), ("2.25 l", 99)]),
    "juices": (["Real", "Tropicana", "Paper Boat", "Raw Pressery", "B Natural", "Maaza"], ["Mixed Fruit", "Orange", "Guava", "Litchi", "Mango", "Apple", "Aam Panna", "Kokum"], [("200 ml", 25), ("1 l", 110)]),
    "tea": (["Tata Tea", "Red Label", "Taj Mahal", "Wagh Bakri", "Tetley", "Society"], ["Premium Leaf", "Gold", "Green Tea", "Masala Chai", "Elaichi Chai", "Dust Tea"], [("100 g", 60), ("250 g", 140), ("500 g", 270)]),
    "coffee": (["Nescafe", "Bru", "Continental", "Davidoff", "Sleepy Owl", "Blue Tokai"], ["Classic Instant", "Gold", "Filter Coffee Powder", "Cold Brew Bags", "Green Label"], [("50 g", 150), ("100 g", 290), ("200 g", 550)]),
    "water-soda": (["Bisleri", "Kinley", "Aquafina", "Himalayan", "Schweppes"], ["Packaged Drinking Water", "Club Soda", "Mineral Water", "Tonic Water"], [("500 ml", 10), ("1 l", 20), ("2 l", 35)]),
    "noodles-pasta": (["Maggi", "Yippee", "Ching's Secret", "Top Ramen", "Knorr", "Del Monte"], ["Masala Noodles", "Atta Noodles", "Hakka Noodles", "Schezwan Noodles", "Penne Pasta", "Fusilli Pasta", "Cup Noodles Masala"], [("70 g", 14), ("280 g", 56), ("560 g", 108)]),
    "ready-to-eat": (["MTR", "Haldiram's", "Gits", "ITC Kitchens of India", "Tasty Bite"], ["Dal Makhani", "Paneer Butter Masala", "Rajma Masala", "Pav Bhaji", "Poha Mix", "Upma Mix", "Idli Mix", "Dosa Mix"], [("300 g", 110), ("500 g", 160)]),
    "frozen": (["McCain", "ITC Master Chef", "Sumeru", "Godrej Yummiez", "Safal"], ["French Fries", "Aloo Tikki", "Veg Nuggets", "Green Peas Frozen", "Smiles", "Chicken Nuggets", "Sweet Corn Frozen"], [("200 g", 95), ("420 g", 150), ("1 kg", 310)]),
    "ice-cream": (["Amul", "Kwality Wall's", "Havmor", "Baskin Robbins", "Naturals", "Vadilal"], ["Vanilla", "Chocolate", "Butterscotch", "Kesar Pista", "Tender Coconut", "Mango"], [("125 ml", 40), ("700 ml", 199)]),
    "sauces-spreads": (["Kissan", "Maggi", "Del Monte", "Dr. Oetker FunFoods", "Sundrop", "Nutella"], ["Tomato Ketchup", "Hot & Sweet Sauce", "Mayonnaise", "Peanut Butter", "Mixed Fruit Jam", "Chocolate Spread"], [("200 g", 90), ("500 g", 170), ("1 kg", 310)]),
    "detergents": (["Surf Excel", "Ariel", "Tide", "Rin", "Wheel", "Henko"], ["Matic Front Load Powder", "Matic Top Load Liquid", "Easy Wash Powder", "Detergent Bar", "Quick Wash Liquid"], [("500 g", 95), ("1 kg", 180), ("2 kg", 340)]),
    "dishwash": (["Vim", "Pril", "Exo", "Patanjali"], ["Dishwash Gel Lemon", "Dishwash Bar", "Dishwash Liquid Lime", "Scrub Pad"], [("250 ml", 55), ("500 ml", 105), ("750 ml", 150)]),
    "cleaners": (["Lizol", "Harpic", "Domex", "Colin", "Dettol"], ["Floor Cleaner Citrus", "Floor Cleaner Pine", "Toilet Cleaner", "Glass Cleaner", "Disinfectant Surface Spray"], [("500 ml", 105), ("1 l", 199), ("2 l", 370)]),
    "pooja": (["Cycle", "Mangaldeep", "Zed Black", "Patanjali"], ["Agarbatti Sandal", "Agarbatti Rose", "Dhoop Sticks", "Camphor", "Cotton Wicks", "Diya Oil"], [("1 pack", 45), ("3 pack", 125)]),
    "bath-body": (["Dove", "Lux", "Pears", "Santoor", "Dettol", "Mysore Sandal", "Cinthol", "Medimix"], ["Beauty Bathing Bar", "Body Wash", "Hand Wash Refill", "Shower Gel"], [("75 g", 40), ("125 g", 65), ("250 ml", 180)]),
    "hair-care": (["Dove", "Head & Shoulders", "Clinic Plus", "Parachute", "Sunsilk", "Indulekha", "Bajaj"], ["Shampoo", "Conditioner", "Coconut Hair Oil", "Almond Hair Oil", "Anti-Dandruff Shampoo"], [("80 ml", 65), ("180 ml", 150), ("340 ml", 280)]),
    "oral-care": (["Colgate", "Pepsodent", "Sensodyne", "Close Up", "Dabur Red", "Oral-B"], ["Toothpaste Strong Teeth", "Toothpaste Gel", "Sensitive Toothpaste", "Toothbrush Medium", "Mouthwash"], [("1 pc", 40), ("100 g", 60), ("200 g", 110)]),
    "skin-care": (["Nivea", "Ponds", "Lakme", "Himalaya", "Mamaearth", "Vaseline", "Lotus Herbals"], ["Face Wash Neem", "Moisturising Cream", "Body Lotion", "Sunscreen SPF 50", "Lip Balm", "Face Scrub"], [("50 ml", 99), ("100 ml", 180), ("200 ml", 320)]),
    "diapers": (["Pampers", "Huggies", "MamyPoko", "Himalaya", "Mamaearth"], ["Pants Small", "Pants Medium", "Pants Large", "Baby Wipes"], [("20 pcs", 350), ("42 pcs", 699), ("72 pcs", 1099)]),
    "baby-food": (["Cerelac", "Nestle Nan Pro", "Slurrp Farm", "Timios", "Gerber"], ["Wheat Apple", "Rice", "Ragi Millet", "Multigrain Dal Veg", "Stage 1 Formula"], [("300 g", 260), ("400 g", 420)]),
}

FIRST = ["Aarav", "Vihaan", "Aditya", "Arjun", "Sai", "Reyansh", "Krishna", "Ishaan", "Rohan", "Kabir", "Ananya", "Diya", "Saanvi", "Aadhya", "Ira", "Myra", "Kavya", "Meera", "Priya", "Sneha", "Lakshmi", "Divya", "Pooja", "Nikhil", "Rahul", "Karthik", "Suresh", "Venkat", "Farhan", "Zoya", "Imran", "Ayesha", "Joseph", "Maria", "Gurpreet", "Harleen", "Tenzin", "Anjali", "Deepak", "Shreya"]
LAST = ["Sharma", "Iyer", "Reddy", "Nair", "Patil", "Kulkarni", "Gowda", "Rao", "Menon", "Shetty", "Khan", "Desai", "Joshi", "Mehta", "Singh", "Das", "Pillai", "Naidu", "Fernandes", "D'Souza", "Hegde", "Bhat", "Chatterjee", "Banerjee", "Verma"]


def slug(s):
    return "".join(c if c.isalnum() else "-" for c in s.upper()).strip("-").replace("--", "-")


def main():
    loc = {r["locality"]: r for r in csv.DictReader(open(OUT / "localities.csv"))}
    stores, features = [], []
    for code, locality, opens, closes in STORES:
        l = loc[locality]
        lat, lng = float(l["lat"]), float(l["lng"])
        stores.append({"code": code, "name": f"Nakku {locality}", "city": l["city"], "locality": locality,
                       "pincode": l["pincode"], "lat": lat, "lng": lng, "opens_at": opens, "closes_at": closes})
        ring = []
        for i in range(10):
            a = 2 * math.pi * i / 10
            km = R.uniform(2.5, 4.0)
            ring.append([round(lng + km / (111.32 * math.cos(math.radians(lat))) * math.cos(a), 5),
                         round(lat + km / 110.57 * math.sin(a), 5)])
        ring.append(ring[0])
        features.append({"type": "Feature", "properties": {"store": code, "name": f"{locality} zone"},
                         "geometry": {"type": "Polygon", "coordinates": [ring]}})
    with open(OUT / "stores.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(stores[0]))
        w.writeheader()
        w.writerows(stores)
    json.dump({"type": "FeatureCollection", "features": features}, open(OUT / "zones.geojson", "w"), indent=1)
    with open(OUT / "categories.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["slug", "name", "parent"])
        w.writerows(CATEGORIES)
    rows = []
    for shelf, (brands, variants, packs) in SHELVES.items():
        for b in brands:
            for v in variants:
                if R.random() < 0.15:
                    continue  # not every brand makes every variant
                for unit, rupees in packs:
                    price = round(rupees * R.uniform(0.85, 1.3))
                    mrp = price if R.random() < 0.6 else round(price * R.uniform(1.05, 1.25))
                    sku = slug(f"{b[:6]}-{v[:14]}-{unit}")
                    rows.append({"sku": sku, "name": f"{b} {v}", "brand": b, "category": shelf, "unit": unit,
                                 "mrp_paise": mrp * 100, "price_paise": price * 100,
                                 "tags": "|".join(sorted({shelf.split('-')[0], v.split()[0].lower()})),
                                 "max_per_order": 10 if price < 200 else 5})
    seen, unique = set(), []
    for r in rows:
        if r["sku"] not in seen:
            seen.add(r["sku"])
            unique.append(r)
    with open(OUT / "products.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(unique[0]))
        w.writeheader()
        w.writerows(unique)
    people = []
    for i in range(200):
        first, last = R.choice(FIRST), R.choice(LAST)
        store = R.choice(stores)
        people.append({"name": f"{first} {last}", "email": f"{first.lower()}.{last.lower().replace(chr(39), '')}{i}@example.in",
                       "phone": f"9{R.randrange(10**8, 10**9)}", "store": store["code"], "role": "user"})
    for i, s in enumerate(stores * 8):
        first, last = R.choice(FIRST), R.choice(LAST)
        people.append({"name": f"{first} {last}", "email": f"rider{i}.{s['code'].lower()}@nakku.in",
                       "phone": f"8{R.randrange(10**8, 10**9)}", "store": s["code"], "role": "delivery_partner"})
    with open(OUT / "people.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(people[0]))
        w.writeheader()
        w.writerows(people)
    for name in ("stores.csv", "categories.csv", "products.csv", "people.csv"):
        assert '"' not in (OUT / name).read_text(), f"{name}: a field with a comma or quote (the seeder splits on commas)"
    print(len(stores), "stores,", len(CATEGORIES), "categories,", len(unique), "products,", len(people), "people")


main()
