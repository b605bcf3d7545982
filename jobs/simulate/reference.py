"""Static vocabularies of the simulated shop: categories, brands, regions, user agents, channels.

Everything here is plain data. The generators combine it with a seeded random stream, so the
catalogue, the population and the traffic are reproducible from the seed alone.
"""

from __future__ import annotations

WEB_ROOT = "https://www.tokodetak.id"
APP_ROOT = "tokodetak://"
SCHEMA_VERSION = "1.0"
CURRENCY = "IDR"

# (category path, brands, product nouns, variants, median price IDR, log-sigma, popularity, search terms)
CATEGORIES: list[tuple[str, list[str], list[str], list[str], int, float, float, list[str]]] = [
    (
        "Elektronik > Handphone",
        ["Samsung", "Xiaomi", "OPPO", "vivo", "Realme", "Infinix", "Apple", "POCO"],
        ["Smartphone", "HP Android", "Ponsel 5G", "Smartphone Gaming"],
        ["4/64GB", "6/128GB", "8/128GB", "8/256GB", "12/256GB", "12/512GB"],
        3_200_000,
        0.6,
        9.0,
        [
            "hp samsung",
            "hp xiaomi",
            "iphone 15",
            "hp 5g murah",
            "smartphone gaming",
            "redmi note 13",
            "hp 2 jutaan",
            "oppo reno",
        ],
    ),
    (
        "Elektronik > Aksesoris HP",
        ["Anker", "Baseus", "Vivan", "Robot", "Ugreen", "Xiaomi"],
        [
            "Charger Fast Charging 33W",
            "Kabel Data USB-C 1m",
            "Powerbank 10000mAh",
            "TWS Earbuds",
            "Tempered Glass",
            "Casing Silikon",
            "Holder HP Motor",
        ],
        ["Hitam", "Putih", "Biru", "Original", "Garansi Resmi"],
        75_000,
        0.6,
        7.0,
        ["charger type c", "powerbank", "tws bluetooth", "tempered glass", "kabel data", "casing hp"],
    ),
    (
        "Elektronik > Laptop",
        ["Asus", "Lenovo", "Acer", "HP", "Apple", "MSI"],
        ["Laptop", "Notebook Tipis", "Laptop Gaming", "Chromebook"],
        ["Core i3 8GB/256GB", "Core i5 16GB/512GB", "Ryzen 5 8GB/512GB", "Ryzen 7 16GB/1TB", "M3 8GB/256GB"],
        8_500_000,
        0.4,
        3.0,
        ["laptop gaming", "laptop murah", "macbook air", "laptop kuliah", "asus vivobook"],
    ),
    (
        "Elektronik > Audio",
        ["JBL", "Sony", "Edifier", "Xiaomi", "Robot"],
        ["Speaker Bluetooth", "Headphone Wireless", "Earphone", "Soundbar"],
        ["Hitam", "Biru", "Mini", "Pro", "Bass Boost"],
        420_000,
        0.7,
        3.0,
        ["speaker bluetooth", "headphone", "earphone jbl", "soundbar"],
    ),
    (
        "Elektronik > Peralatan Rumah",
        ["Philips", "Miyako", "Cosmos", "Sharp", "Panasonic", "Oxone"],
        [
            "Rice Cooker 1.8L",
            "Blender",
            "Kipas Angin Berdiri",
            "Setrika Uap",
            "Air Fryer 4L",
            "Dispenser Galon Bawah",
            "Vacuum Cleaner",
        ],
        ["Putih", "Hitam", "Stainless", "Low Watt"],
        380_000,
        0.6,
        4.0,
        ["rice cooker", "air fryer", "blender philips", "kipas angin", "setrika"],
    ),
    (
        "Fashion Wanita > Dress",
        ["Cotton Ink", "Erigo", "Minimal", "Lozy Hijab", "This Is April"],
        ["Dress Midi Rayon", "Gamis Syar'i", "Maxi Dress Motif Bunga", "Tunik Katun", "Dress Kerja"],
        ["S", "M", "L", "XL", "All Size"],
        160_000,
        0.5,
        6.0,
        ["dress wanita", "gamis", "dress kondangan", "tunik", "baju lebaran"],
    ),
    (
        "Fashion Wanita > Hijab",
        ["Elzatta", "Rabbani", "Zoya", "Buttonscarves", "Lozy Hijab"],
        ["Pashmina Ceruty", "Hijab Segi Empat Voal", "Bergo Instan", "Inner Ninja"],
        ["Hitam", "Mocca", "Dusty Pink", "Sage", "Navy"],
        75_000,
        0.6,
        6.0,
        ["pashmina", "hijab segi empat", "bergo instan", "jilbab voal"],
    ),
    (
        "Fashion Pria > Kemeja",
        ["Erigo", "The Executive", "Roughneck", "Kemeja.id", "Hammer"],
        ["Kemeja Flanel", "Kemeja Batik Lengan Panjang", "Kemeja Oxford", "Kemeja Linen"],
        ["M", "L", "XL", "XXL"],
        190_000,
        0.5,
        4.0,
        ["kemeja pria", "batik pria", "kemeja flanel", "kemeja kerja"],
    ),
    (
        "Fashion Pria > Kaos",
        ["Erigo", "Roughneck", "Uniqlo", "Thanksinsomnia", "3Second"],
        ["Kaos Polos Cotton Combed 30s", "Kaos Oversize", "Polo Shirt", "Kaos Grafis"],
        ["Hitam", "Putih", "Navy", "Abu", "Maroon"],
        95_000,
        0.5,
        5.0,
        ["kaos polos", "kaos oversize", "polo shirt", "t-shirt pria"],
    ),
    (
        "Fashion Pria > Sepatu",
        ["Compass", "Ventela", "Brodo", "Aerostreet", "Piero"],
        ["Sepatu Sneakers", "Sepatu Kanvas", "Sepatu Pantofel", "Sandal Slide"],
        ["39", "40", "41", "42", "43", "44"],
        320_000,
        0.6,
        4.0,
        ["sepatu sneakers", "sepatu compass", "ventela", "sepatu kerja pria"],
    ),
    (
        "Kesehatan & Kecantikan > Skincare",
        ["Wardah", "Emina", "Somethinc", "Scarlett", "Azarine", "Skintific", "MS Glow", "Glad2Glow"],
        [
            "Serum Niacinamide 20ml",
            "Sunscreen SPF 50 PA++++",
            "Moisturizer Gel",
            "Facial Wash",
            "Toner Exfoliating",
            "Night Cream",
        ],
        ["30ml", "50ml", "100ml", "Travel Size", "Paket Hemat"],
        72_000,
        0.6,
        8.0,
        ["skincare", "sunscreen", "serum niacinamide", "skintific", "facial wash", "moisturizer"],
    ),
    (
        "Kesehatan & Kecantikan > Makeup",
        ["Wardah", "Make Over", "Pixy", "Emina", "Maybelline", "Implora"],
        ["Lip Cream Matte", "Cushion Foundation", "Bedak Padat", "Maskara Waterproof", "Eyeliner"],
        ["01 Light", "02 Natural", "03 Beige", "Rosy", "Nude"],
        85_000,
        0.6,
        6.0,
        ["lip cream", "cushion", "bedak wardah", "maskara", "lipstik"],
    ),
    (
        "Kesehatan & Kecantikan > Vitamin & Suplemen",
        ["Blackmores", "Enervon", "Imboost", "Redoxon", "Holisticare"],
        ["Vitamin C 1000mg", "Multivitamin", "Minyak Ikan Omega 3", "Vitamin D3"],
        ["isi 30", "isi 60", "isi 100", "Effervescent"],
        95_000,
        0.5,
        3.0,
        ["vitamin c", "multivitamin", "omega 3", "imboost"],
    ),
    (
        "Rumah Tangga > Dapur",
        ["Lock&Lock", "Maspion", "Kirin", "Oxone", "Tupperware"],
        ["Panci Set", "Wajan Anti Lengket 28cm", "Pisau Dapur Set", "Toples Kedap Udara", "Talenan Kayu"],
        ["Set 3 pcs", "Set 5 pcs", "Hitam", "Merah", "Stainless"],
        125_000,
        0.6,
        4.0,
        ["panci set", "wajan anti lengket", "pisau dapur", "toples", "tupperware"],
    ),
    (
        "Rumah Tangga > Kebersihan",
        ["Rinso", "Sunlight", "So Klin", "Wipol", "Bayclin", "Molto"],
        ["Deterjen Cair 1L", "Sabun Cuci Piring 800ml", "Pembersih Lantai 780ml", "Pewangi Pakaian"],
        ["Refill", "Botol", "Isi 2", "Isi 3"],
        32_000,
        0.5,
        6.0,
        ["deterjen", "sabun cuci piring", "pembersih lantai", "pewangi pakaian"],
    ),
    (
        "Rumah Tangga > Furnitur",
        ["Informa", "Olympic", "Ace", "Vivere"],
        ["Rak Buku 5 Susun", "Meja Lipat", "Kursi Kantor Ergonomis", "Lemari Pakaian 2 Pintu"],
        ["Putih", "Coklat", "Hitam", "Jati"],
        750_000,
        0.6,
        2.0,
        ["rak buku", "meja lipat", "kursi kantor", "lemari pakaian"],
    ),
    (
        "Makanan & Minuman > Kopi",
        ["Kapal Api", "Kopi Kenangan", "Good Day", "ABC", "Tomoro", "Toraja Coffee"],
        [
            "Kopi Bubuk 165g",
            "Kopi Susu Sachet isi 10",
            "Biji Kopi Arabika Gayo 250g",
            "Kopi Literan 1L",
            "Cold Brew Botol",
        ],
        ["Original", "Mocca", "Gula Aren", "Tanpa Gula"],
        45_000,
        0.6,
        5.0,
        ["kopi", "kopi arabika", "kopi susu", "kopi gayo", "good day"],
    ),
    (
        "Makanan & Minuman > Mi Instan",
        ["Indomie", "Mie Sedaap", "Sarimi", "Supermi", "Lemonilo"],
        ["Mi Goreng isi 40", "Mi Kuah Ayam Bawang isi 5", "Mi Goreng Rendang isi 5", "Mi Sehat isi 5"],
        ["1 Dus", "Paket 5", "Paket 10"],
        28_000,
        0.6,
        6.0,
        ["indomie", "mie instan", "indomie goreng 1 dus", "mie sedaap"],
    ),
    (
        "Makanan & Minuman > Camilan",
        ["Chitato", "Qtela", "Taro", "Tango", "Silverqueen"],
        ["Keripik Kentang 68g", "Keripik Singkong", "Wafer Coklat", "Coklat Batang 62g"],
        ["Original", "Sapi Panggang", "Balado", "Keju"],
        22_000,
        0.6,
        5.0,
        ["camilan", "keripik", "silverqueen", "wafer tango"],
    ),
    (
        "Ibu & Bayi > Popok",
        ["MamyPoko", "Merries", "Sweety", "Pampers", "Huggies"],
        ["Popok Celana", "Popok Perekat", "Popok Premium"],
        ["S 48", "M 34", "L 30", "XL 26", "XXL 22"],
        125_000,
        0.4,
        4.0,
        ["popok bayi", "mamypoko", "pampers", "popok celana"],
    ),
    (
        "Ibu & Bayi > Susu Formula",
        ["SGM", "Dancow", "Bebelac", "Lactogen", "Morinaga"],
        ["Susu Formula 1-3 Tahun", "Susu Pertumbuhan", "Susu Formula Bayi 0-6 Bulan"],
        ["400g", "800g", "1000g"],
        160_000,
        0.5,
        3.0,
        ["susu formula", "sgm", "dancow", "bebelac"],
    ),
    (
        "Olahraga > Sepatu Lari",
        ["Nike", "Adidas", "Ortuseight", "Eagle", "910 Nineten", "Asics"],
        ["Sepatu Lari", "Running Shoes", "Sepatu Trail"],
        ["39", "40", "41", "42", "43", "44"],
        650_000,
        0.6,
        3.0,
        ["sepatu lari", "running shoes", "sepatu olahraga", "ortuseight"],
    ),
    (
        "Olahraga > Outdoor",
        ["Eiger", "Consina", "Arei", "Rei"],
        ["Tas Carrier 45L", "Jaket Windbreaker", "Tenda Dome 4 Orang", "Sandal Gunung", "Matras Camping"],
        ["Hitam", "Hijau Army", "Biru", "Merah"],
        360_000,
        0.6,
        2.5,
        ["eiger", "tas carrier", "jaket gunung", "tenda camping"],
    ),
    (
        "Otomotif > Aksesoris Motor",
        ["Honda", "Yamaha", "Shell", "Federal", "KYT", "INK"],
        ["Oli Mesin 0.8L", "Helm Half Face", "Jas Hujan Setelan", "Kampas Rem", "Busi"],
        ["Original", "SNI", "Hitam Doff", "All Size"],
        95_000,
        0.7,
        3.0,
        ["helm kyt", "oli motor", "jas hujan", "kampas rem"],
    ),
    (
        "Hobi & Koleksi > Mainan",
        ["LEGO", "Hot Wheels", "Bandai", "Mattel"],
        ["Mainan Edukasi", "Diecast Mobil", "Action Figure", "Puzzle 1000 pcs"],
        ["Set A", "Set B", "Edisi Terbatas"],
        210_000,
        0.8,
        2.0,
        ["lego", "hot wheels", "mainan anak", "puzzle"],
    ),
    (
        "Buku > Fiksi",
        ["Gramedia", "Mizan", "Bentang Pustaka", "Gagas Media"],
        ["Novel Remaja", "Novel Sastra", "Kumpulan Cerpen", "Komik"],
        ["Soft Cover", "Hard Cover", "Edisi Revisi"],
        92_000,
        0.4,
        2.0,
        ["novel", "buku tere liye", "komik", "novel romantis"],
    ),
]

# Queries that find nothing in the catalogue (results_count = 0).
ZERO_RESULT_QUERIES = [
    "charger nokia 3310 original",
    "sepatu lari ukuran 50",
    "kopi luwak liar 5kg",
    "ps6",
    "asdfgh",
    "iphone 17 pro max harga 1 juta",
    "baju adat papua anak ukuran 2xs",
    "tamiya dinamo tornado langka",
    "sabun colek cap tangan",
    "kaset pita dangdut 1985",
    "obeng bintang titanium 0.1mm",
    "xyz123",
    "mesin cuci 1 tabung 3kg manual tanpa listrik",
    "lensa kamera analog m42 jamur",
]

# Province, time zone, weight (population with e-commerce uptake).
REGIONS: list[tuple[str, str, float]] = [
    ("DKI Jakarta", "Asia/Jakarta", 16.0),
    ("Jawa Barat", "Asia/Jakarta", 45.0),
    ("Jawa Tengah", "Asia/Jakarta", 30.0),
    ("Jawa Timur", "Asia/Jakarta", 36.0),
    ("DI Yogyakarta", "Asia/Jakarta", 4.5),
    ("Banten", "Asia/Jakarta", 12.0),
    ("Sumatera Utara", "Asia/Jakarta", 12.0),
    ("Sumatera Barat", "Asia/Jakarta", 4.5),
    ("Riau", "Asia/Jakarta", 5.5),
    ("Sumatera Selatan", "Asia/Jakarta", 6.5),
    ("Lampung", "Asia/Jakarta", 6.5),
    ("Aceh", "Asia/Jakarta", 3.8),
    ("Jambi", "Asia/Jakarta", 2.8),
    ("Bengkulu", "Asia/Jakarta", 1.5),
    ("Kepulauan Riau", "Asia/Jakarta", 2.4),
    ("Kepulauan Bangka Belitung", "Asia/Jakarta", 1.2),
    ("Kalimantan Barat", "Asia/Jakarta", 4.0),
    ("Kalimantan Tengah", "Asia/Jakarta", 2.0),
    ("Bali", "Asia/Makassar", 4.0),
    ("Nusa Tenggara Barat", "Asia/Makassar", 3.6),
    ("Nusa Tenggara Timur", "Asia/Makassar", 3.0),
    ("Sulawesi Selatan", "Asia/Makassar", 7.5),
    ("Sulawesi Utara", "Asia/Makassar", 2.2),
    ("Sulawesi Tengah", "Asia/Makassar", 2.0),
    ("Sulawesi Tenggara", "Asia/Makassar", 1.8),
    ("Gorontalo", "Asia/Makassar", 0.8),
    ("Sulawesi Barat", "Asia/Makassar", 0.8),
    ("Kalimantan Selatan", "Asia/Makassar", 3.2),
    ("Kalimantan Timur", "Asia/Makassar", 3.4),
    ("Kalimantan Utara", "Asia/Makassar", 0.5),
    ("Maluku", "Asia/Jayapura", 1.2),
    ("Maluku Utara", "Asia/Jayapura", 0.8),
    ("Papua", "Asia/Jayapura", 1.8),
    ("Papua Barat", "Asia/Jayapura", 0.8),
]
TZ_OFFSET_HOURS = {"Asia/Jakarta": 7, "Asia/Makassar": 8, "Asia/Jayapura": 9}

# First two octets of consumer IPv4 ranges of Indonesian operators (Telkomsel, Indihome, XL, Indosat, ...).
CONSUMER_IP_PREFIXES = [
    "114.122",
    "114.124",
    "110.136",
    "110.137",
    "180.241",
    "180.248",
    "182.253",
    "36.68",
    "36.72",
    "36.80",
    "36.85",
    "125.166",
    "112.215",
    "202.67",
    "103.147",
    "139.194",
    "120.188",
    "140.213",
    "116.206",
    "39.194",
]
CONSUMER_IP6_PREFIXES = ["2001:448a", "2404:c0", "2400:9800"]
DATACENTER_IP_PREFIXES = [
    "13.228",
    "18.140",
    "52.74",
    "128.199",
    "159.89",
    "34.101",
    "34.128",
    "45.32",
    "103.253",
    "167.172",
]

# Device kinds: (kind, weight, user agents).
DEVICE_KINDS: list[tuple[str, float, list[str]]] = [
    (
        "android_web",
        0.33,
        [
            "Mozilla/5.0 (Linux; Android 14; SM-A556E) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.6778.135 Mobile Safari/537.36",
            "Mozilla/5.0 (Linux; Android 13; 23090RA98G) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/130.0.6723.107 Mobile Safari/537.36",
            "Mozilla/5.0 (Linux; Android 14; CPH2591) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.6778.104 Mobile Safari/537.36",
            "Mozilla/5.0 (Linux; Android 13; V2250) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/129.0.6668.100 Mobile Safari/537.36",
            "Mozilla/5.0 (Linux; Android 12; Infinix X6816) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/128.0.6613.146 Mobile Safari/537.36",
            "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-A155F) AppleWebKit/537.36 (KHTML, like Gecko) "
            "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
        ],
    ),
    (
        "ios_web",
        0.10,
        [
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6_1 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 16_7_10 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
        ],
    ),
    (
        "desktop_web",
        0.17,
        [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/18.1 Safari/605.1.15",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
        ],
    ),
    (
        "android_app",
        0.32,
        [
            "TokoDetak/5.12.0 (Android 14; SM-A556E; id_ID)",
            "TokoDetak/5.12.0 (Android 13; 23090RA98G; id_ID)",
            "TokoDetak/5.11.2 (Android 12; CPH2385; id_ID)",
            "TokoDetak/5.12.0 (Android 14; V2318; id_ID)",
        ],
    ),
    (
        "ios_app",
        0.08,
        [
            "TokoDetak/5.12.0 (iOS 18.1; iPhone15,2; id_ID)",
            "TokoDetak/5.11.2 (iOS 17.6.1; iPhone13,2; id_ID)",
        ],
    ),
]

# Known crawlers: (user agent, IPv4 /16 prefix, weight).
CRAWLERS: list[tuple[str, str, float]] = [
    (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "66.249",
        5.0,
    ),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "66.249", 3.0),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "157.55", 2.0),
    ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "54.36", 1.5),
    ("Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)", "185.191", 1.2),
    ("Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", "5.255", 0.6),
    ("Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)", "116.179", 0.5),
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "173.252", 1.0),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
        "17.241",
        0.5,
    ),
    ("Mozilla/5.0 (compatible; DuckDuckBot-Https/1.1; https://duckduckgo.com/duckduckbot)", "20.191", 0.3),
]

HEADLESS_AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.6778.85 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/124.0.6367.60 Safari/537.36",
    "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 "
    "Safari/537.36 Puppeteer",
]

# Acquisition channels of a web visit: (weight, utm_source, utm_medium, campaign kind, referrers, landing).
# campaign kind: None (no utm), "always" (evergreen campaign names) or "sale" (the sale day's name if any).
CHANNELS: list[tuple[float, str | None, str | None, list[str] | None, list[str | None], str]] = [
    (0.28, None, None, None, [None], "home"),
    (0.20, None, None, None, ["https://www.google.com/", "https://www.google.co.id/"], "product"),
    (
        0.04,
        None,
        None,
        None,
        ["https://www.bing.com/", "https://duckduckgo.com/", "https://www.youtube.com/"],
        "category",
    ),
    (
        0.10,
        "google",
        "cpc",
        ["brand_search", "generic_elektronik", "shopping_feed", "{sale}"],
        ["https://www.google.com/"],
        "product",
    ),
    (
        0.06,
        "facebook",
        "social",
        ["retargeting_dpa", "lookalike_fashion", "{sale}"],
        ["https://m.facebook.com/", "https://l.facebook.com/"],
        "product",
    ),
    (
        0.08,
        "instagram",
        "social",
        ["reels_beauty", "story_flash_deal", "{sale}"],
        ["https://l.instagram.com/"],
        "promo",
    ),
    (
        0.08,
        "tiktok",
        "social",
        ["live_shopping", "creator_review", "{sale}"],
        ["https://www.tiktok.com/"],
        "product",
    ),
    (0.06, "newsletter", "email", ["weekly_deals", "payday_deals", "{sale}"], [None], "promo"),
    # Affiliate partners: cashback, coupon and review sites, each with its own utm_source.
    (0.02, "shopback", "affiliate", ["cashback_partner"], ["https://www.shopback.co.id/"], "product"),
    (0.01, "cuponation", "affiliate", ["coupon_site"], ["https://www.cuponation.co.id/"], "promo"),
    (0.01, "kumparan", "affiliate", ["review_blog"], ["https://kumparan.com/"], "product"),
    (0.01, "detikcom", "affiliate", ["review_blog"], ["https://www.detik.com/"], "product"),
    (0.05, "push", "notification", ["flash_sale_reminder", "price_drop", "{sale}"], [None], "promo"),
]
CART_REMINDER = ("newsletter", "email", "cart_reminder")

PAYMENT_METHODS = [
    ("gopay", 0.22),
    ("ovo", 0.12),
    ("dana", 0.12),
    ("shopeepay", 0.06),
    ("bank_transfer", 0.18),
    ("credit_card", 0.07),
    ("cod", 0.15),
    ("paylater", 0.08),
]
DELIVERY_METHODS = [
    "jne_reg",
    "jne_yes",
    "jnt_ez",
    "sicepat_halu",
    "sicepat_reg",
    "anteraja_reg",
    "gosend_instant",
    "grabexpress_sameday",
    "pos_kilat",
]
COUPONS_OK = ["HEMAT10", "GRATISONGKIR", "CASHBACK20", "NEWUSER50", "PAYDAY25"]
COUPONS_BAD = [
    ("FLASH1111", "expired"),
    ("BELANJA200", "min_spend"),
    ("NEWUSER50", "not_eligible"),
    ("DISKON90", "invalid_code"),
    ("PAYDAY25", "quota_exhausted"),
]
PAYMENT_SOFT_ERRORS = ["insufficient_funds", "timeout", "issuer_unavailable", "3ds_failed"]
PAYMENT_HARD_ERRORS = [
    "card_declined",
    "do_not_honor",
    "invalid_card_number",
    "expired_card",
    "cvv_mismatch",
    "stolen_card",
]
SORTS = ["relevance", "relevance", "relevance", "price_asc", "price_desc", "newest", "bestseller"]
FILTER_LOCATIONS = ["Jakarta", "Bandung", "Surabaya", "Medan", "Semarang", "Makassar", "Denpasar"]
REFUND_REASONS = ["damaged_item", "wrong_item", "not_as_described", "late_delivery"]
CANCEL_REASONS = ["buyer_request", "out_of_stock", "seller_cancelled", "address_problem"]
EMAIL_DOMAINS = ["gmail.com", "yahoo.co.id", "yahoo.com", "hotmail.com", "outlook.com", "ymail.com"]
FIRST_NAMES = [
    "budi",
    "siti",
    "agus",
    "dewi",
    "andi",
    "rina",
    "eko",
    "sri",
    "putri",
    "rizky",
    "fajar",
    "ayu",
    "dimas",
    "indah",
    "wahyu",
    "nur",
    "yusuf",
    "lestari",
    "bayu",
    "intan",
]
LAST_NAMES = [
    "santoso",
    "wijaya",
    "saputra",
    "hidayat",
    "pratama",
    "kusuma",
    "siregar",
    "nasution",
    "lubis",
    "setiawan",
    "rahman",
    "gunawan",
    "halim",
    "putra",
    "utami",
]

# Event types a producer might send that no contract knows (unknown_event_type lines).
UNKNOWN_EVENT_TYPES = {
    "clickstream": ["wishlist_add", "chat_open", "share_product", "video_play", "live_stream_join"],
    "search": ["search_suggestion_click", "voice_search", "image_search"],
    "orders": ["order_shipped", "order_delivered", "order_returned"],
}
