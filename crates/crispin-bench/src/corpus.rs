//! A deterministic corpus of realistic messages: message `i` of seed `s`
//! is always the same bytes. Plain text, multipart/alternative, base64
//! attachments, threads (In-Reply-To/References), RFC 2047 encoded
//! headers, quoted-printable, sizes from under 1 KB to a few hundred KB.
//!
//! Search markers are placed by index alone, so the expected number of
//! hits over messages `0..n` is known without generating them:
//! see [`expected_hits`]. No vocabulary word contains a marker.

use base64::Engine;

/// In the Subject of messages with `i % 10 == 3` (sometimes RFC 2047
/// encoded).
pub const SUBJECT_MARKER: &str = "xylophone";
/// In the From address of messages with `i % 20 == 7`.
pub const FROM_MARKER: &str = "quokka";
/// In the text body of messages with `i % 50 == 11`.
pub const BODY_MARKER: &str = "kumquat";
/// In the text body of messages with `i % 25 == 5` and in the Subject of
/// messages with `i % 25 == 17`.
pub const TEXT_MARKER: &str = "marmalade";

fn has_subject_marker(i: u64) -> bool {
    i % 10 == 3
}
fn has_from_marker(i: u64) -> bool {
    i % 20 == 7
}
fn has_body_marker(i: u64) -> bool {
    i % 50 == 11
}
fn has_text_marker_body(i: u64) -> bool {
    i % 25 == 5
}
fn has_text_marker_subject(i: u64) -> bool {
    i % 25 == 17
}

/// How many of messages `0..count` match each marker search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hits {
    pub subject: u64,
    pub from: u64,
    pub body: u64,
    pub text: u64,
}

pub fn expected_hits(count: u64) -> Hits {
    let n = |f: fn(u64) -> bool| (0..count).filter(|&i| f(i)).count() as u64;
    Hits {
        subject: n(has_subject_marker),
        from: n(has_from_marker),
        body: n(has_body_marker),
        text: n(|i| has_text_marker_body(i) || has_text_marker_subject(i)),
    }
}

/// splitmix64: small, fast, and the same everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Log-uniform between lo and hi: many small, some large.
    pub fn log_uniform(&mut self, lo: usize, hi: usize) -> usize {
        let (l, h) = ((lo.max(1)) as f64, (hi.max(lo + 1)) as f64);
        (l.ln() + self.unit() * (h.ln() - l.ln())).exp() as usize
    }

    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "for",
    "is",
    "on",
    "that",
    "by",
    "this",
    "with",
    "you",
    "it",
    "not",
    "or",
    "be",
    "are",
    "from",
    "at",
    "as",
    "your",
    "all",
    "have",
    "new",
    "more",
    "an",
    "was",
    "we",
    "will",
    "can",
    "about",
    "if",
    "page",
    "my",
    "has",
    "free",
    "but",
    "our",
    "one",
    "other",
    "do",
    "no",
    "information",
    "time",
    "they",
    "site",
    "he",
    "up",
    "may",
    "what",
    "which",
    "their",
    "news",
    "out",
    "use",
    "any",
    "there",
    "see",
    "only",
    "so",
    "his",
    "when",
    "contact",
    "here",
    "business",
    "who",
    "web",
    "also",
    "now",
    "help",
    "get",
    "view",
    "online",
    "first",
    "been",
    "would",
    "how",
    "were",
    "me",
    "services",
    "some",
    "these",
    "click",
    "its",
    "like",
    "service",
    "than",
    "find",
    "price",
    "date",
    "back",
    "top",
    "people",
    "had",
    "list",
    "name",
    "just",
    "over",
    "state",
    "year",
    "day",
    "into",
    "email",
    "two",
    "health",
    "world",
    "next",
    "used",
    "go",
    "work",
    "last",
    "most",
    "products",
    "music",
    "buy",
    "data",
    "make",
    "them",
    "should",
    "product",
    "system",
    "post",
    "her",
    "city",
    "add",
    "policy",
    "number",
    "such",
    "please",
    "available",
    "copyright",
    "support",
    "message",
    "after",
    "best",
    "software",
    "then",
    "good",
    "video",
    "well",
    "where",
    "info",
    "rights",
    "public",
    "books",
    "high",
    "school",
    "through",
    "each",
    "links",
    "she",
    "review",
    "years",
    "order",
    "very",
    "privacy",
    "book",
    "items",
    "company",
    "read",
    "group",
    "need",
    "many",
    "user",
    "said",
    "does",
    "set",
    "under",
    "general",
    "research",
    "university",
    "january",
    "mail",
    "full",
    "map",
    "reviews",
    "program",
    "life",
    "know",
    "games",
    "way",
    "days",
    "management",
    "part",
    "could",
    "great",
    "united",
    "hotel",
    "real",
    "item",
    "international",
    "center",
    "must",
    "store",
    "travel",
    "comments",
    "made",
    "development",
    "report",
    "off",
    "member",
    "details",
    "line",
    "terms",
    "before",
    "hotels",
    "did",
    "send",
    "right",
    "type",
    "because",
    "local",
    "those",
    "using",
    "results",
    "office",
    "education",
    "national",
    "car",
    "design",
    "take",
    "posted",
    "internet",
    "address",
    "community",
    "within",
    "states",
    "area",
    "want",
    "phone",
    "shipping",
    "reserved",
    "subject",
    "between",
    "forum",
    "family",
    "long",
    "based",
    "code",
    "show",
    "even",
    "black",
    "check",
    "special",
    "prices",
    "website",
    "index",
    "being",
    "women",
    "much",
    "sign",
    "file",
    "link",
    "open",
    "today",
    "technology",
    "south",
    "case",
    "project",
    "same",
    "pages",
    "version",
    "section",
    "own",
    "found",
    "sports",
    "house",
    "related",
    "security",
    "both",
    "county",
    "american",
    "photo",
    "game",
    "members",
    "power",
    "while",
    "care",
    "network",
    "down",
    "computer",
    "systems",
    "three",
    "total",
    "place",
    "end",
    "following",
    "download",
    "him",
    "without",
    "per",
    "access",
    "think",
    "north",
    "resources",
    "current",
    "posts",
    "big",
    "media",
    "law",
    "control",
    "water",
    "history",
    "pictures",
    "size",
    "art",
    "personal",
    "since",
    "including",
    "guide",
    "shop",
    "directory",
    "board",
    "location",
    "change",
    "white",
    "text",
    "small",
    "rating",
    "rate",
    "government",
    "children",
    "during",
    "return",
    "students",
    "shopping",
    "account",
    "times",
    "sites",
    "level",
    "digital",
    "profile",
    "previous",
    "form",
    "events",
    "love",
    "old",
    "john",
    "main",
    "call",
    "hours",
    "image",
    "department",
    "title",
    "description",
    "insurance",
    "another",
    "why",
    "shall",
    "property",
    "class",
    "still",
    "money",
    "quality",
    "every",
    "listing",
    "content",
    "country",
    "private",
    "little",
    "visit",
    "save",
    "tools",
    "low",
    "reply",
    "customer",
    "december",
    "compare",
    "movies",
    "include",
    "college",
    "value",
    "article",
    "york",
    "man",
    "card",
    "jobs",
    "provide",
    "food",
    "source",
    "author",
    "different",
    "press",
    "learn",
    "sale",
    "around",
    "print",
    "course",
    "job",
    "canada",
    "process",
    "teen",
    "room",
    "stock",
    "training",
    "too",
    "credit",
    "point",
    "join",
    "science",
    "men",
    "categories",
    "advanced",
    "west",
    "sales",
    "look",
    "english",
    "left",
    "team",
    "estate",
    "box",
    "conditions",
    "select",
    "windows",
    "photos",
    "thread",
    "week",
    "category",
    "note",
    "live",
    "large",
    "gallery",
    "table",
    "register",
    "however",
    "june",
    "october",
    "november",
    "market",
    "library",
    "really",
    "action",
    "start",
    "series",
    "model",
    "features",
    "air",
    "industry",
    "plan",
    "human",
    "provided",
    "yes",
    "required",
    "second",
    "hot",
    "accessories",
    "cost",
    "movie",
    "forums",
    "march",
    "september",
    "better",
    "say",
    "questions",
    "july",
    "going",
    "medical",
    "test",
    "friend",
    "come",
    "server",
    "study",
    "application",
    "cart",
    "staff",
    "articles",
    "feedback",
    "again",
    "play",
    "looking",
    "issues",
    "april",
    "never",
    "users",
    "complete",
    "street",
    "topic",
    "comment",
    "financial",
    "things",
    "working",
    "against",
    "standard",
    "tax",
    "person",
    "below",
    "mobile",
    "less",
    "got",
    "blog",
    "party",
    "payment",
    "equipment",
    "login",
    "student",
    "let",
    "programs",
    "offers",
    "legal",
    "above",
    "recent",
    "park",
    "stores",
    "side",
    "act",
    "problem",
    "red",
    "give",
    "memory",
    "performance",
    "social",
    "august",
    "quote",
    "language",
    "story",
    "sell",
    "options",
    "experience",
    "rates",
    "create",
    "key",
    "body",
    "young",
    "america",
    "important",
    "field",
    "few",
    "east",
    "paper",
    "single",
    "age",
    "activities",
    "club",
    "example",
    "girls",
    "additional",
    "password",
    "latest",
    "something",
    "road",
    "gift",
    "question",
    "changes",
    "night",
    "hard",
    "texas",
    "pay",
    "four",
    "poker",
    "status",
    "browse",
    "issue",
    "range",
    "building",
    "seller",
    "court",
    "february",
    "always",
    "result",
    "audio",
    "light",
    "write",
    "war",
    "offer",
    "blue",
    "groups",
    "easy",
    "given",
    "files",
    "event",
    "release",
    "analysis",
    "request",
    "china",
    "making",
    "picture",
    "needs",
    "possible",
    "might",
    "professional",
    "yet",
    "month",
    "major",
    "star",
    "areas",
    "future",
    "space",
    "committee",
    "hand",
    "sun",
    "cards",
    "problems",
    "london",
    "washington",
    "meeting",
    "become",
    "interest",
    "child",
    "keep",
    "enter",
    "california",
    "share",
    "similar",
    "garden",
    "schools",
    "million",
    "added",
    "reference",
    "companies",
    "listed",
    "baby",
    "learning",
    "energy",
    "run",
    "delivery",
    "net",
    "popular",
    "term",
    "film",
    "stories",
    "put",
    "computers",
    "journal",
    "reports",
    "try",
    "welcome",
    "central",
    "images",
    "president",
    "notice",
    "original",
    "head",
    "radio",
    "until",
    "cell",
    "color",
    "self",
    "council",
    "away",
    "includes",
    "track",
    "australia",
    "discussion",
    "archive",
    "once",
    "others",
    "entertainment",
    "agreement",
    "format",
    "least",
    "society",
    "months",
    "log",
    "safety",
    "friends",
    "sure",
    "trade",
    "edition",
    "cars",
    "messages",
    "marketing",
    "tell",
    "further",
    "updated",
    "association",
    "able",
    "having",
    "provides",
    "david",
    "fun",
    "already",
    "green",
    "studies",
    "close",
    "common",
    "drive",
    "specific",
    "several",
    "gold",
    "feb",
    "living",
    "collection",
    "called",
    "short",
    "arts",
    "lot",
    "ask",
    "display",
    "limited",
    "powered",
    "solutions",
    "means",
    "director",
    "daily",
    "beach",
    "past",
    "natural",
    "whether",
    "due",
    "electronics",
    "five",
    "upon",
    "period",
    "planning",
    "database",
    "says",
    "official",
    "weather",
    "mar",
    "land",
    "average",
    "done",
    "technical",
    "window",
    "france",
    "pro",
    "region",
    "island",
    "record",
    "direct",
    "microsoft",
    "conference",
    "environment",
    "records",
    "district",
    "calendar",
    "costs",
    "style",
    "url",
    "front",
    "statement",
    "update",
    "parts",
    "aug",
    "ever",
    "downloads",
    "early",
    "miles",
    "sound",
    "resource",
    "present",
    "applications",
    "either",
    "ago",
    "document",
    "word",
    "works",
    "material",
    "bill",
    "apr",
    "written",
    "talk",
    "federal",
    "hosting",
    "rules",
    "final",
    "adult",
    "tickets",
    "thing",
    "centre",
    "requirements",
    "via",
    "cheap",
    "kids",
    "finance",
    "true",
    "minutes",
    "else",
    "mark",
    "third",
    "rock",
    "gifts",
    "europe",
    "reading",
    "topics",
    "bad",
    "individual",
    "tips",
    "plus",
    "auto",
    "cover",
    "usually",
    "edit",
    "together",
    "videos",
    "percent",
    "fast",
    "function",
    "fact",
    "unit",
    "getting",
    "global",
    "tech",
    "meet",
    "far",
    "economic",
    "player",
    "projects",
    "lyrics",
    "often",
    "subscribe",
    "submit",
    "germany",
    "amount",
    "watch",
    "included",
    "feel",
    "though",
    "bank",
    "risk",
    "thanks",
    "everything",
    "deals",
    "various",
    "words",
    "linux",
    "production",
    "commercial",
    "james",
    "weight",
    "town",
    "heart",
    "advertising",
    "received",
    "choose",
    "treatment",
    "newsletter",
    "archives",
    "points",
    "knowledge",
    "magazine",
    "error",
    "camera",
    "jun",
    "girl",
    "currently",
    "construction",
    "toys",
    "registered",
    "clear",
    "golf",
    "receive",
    "domain",
    "methods",
    "chapter",
    "makes",
    "protection",
    "policies",
    "loan",
    "wide",
    "beauty",
    "manager",
    "india",
    "position",
    "taken",
    "sort",
    "listings",
    "models",
    "michael",
    "known",
    "half",
    "cases",
    "step",
    "engineering",
    "florida",
    "simple",
    "quick",
    "none",
    "wireless",
    "license",
    "paul",
    "friday",
    "lake",
    "whole",
    "annual",
    "published",
    "later",
    "basic",
    "sony",
    "shows",
    "corporate",
    "google",
    "church",
    "method",
    "purchase",
    "customers",
    "active",
    "response",
    "practice",
    "hardware",
    "figure",
    "materials",
    "fire",
    "holiday",
    "chat",
    "enough",
    "designed",
    "along",
    "among",
    "death",
    "writing",
    "speed",
    "html",
    "countries",
    "loss",
    "face",
    "brand",
    "discount",
    "higher",
    "effects",
    "created",
    "remember",
    "standards",
    "oil",
    "bit",
    "yellow",
    "political",
    "increase",
    "advertise",
    "kingdom",
    "base",
    "near",
    "environmental",
    "thought",
    "stuff",
    "french",
    "storage",
    "japan",
    "doing",
    "loans",
    "shoes",
    "entry",
    "stay",
    "nature",
    "orders",
    "availability",
    "africa",
    "summary",
    "turn",
    "mean",
    "growth",
    "notes",
    "agency",
    "king",
    "monday",
    "european",
    "activity",
    "copy",
    "although",
    "drug",
    "pics",
    "western",
    "income",
    "force",
    "cash",
    "employment",
    "overall",
    "bay",
    "river",
    "commission",
    "package",
    "contents",
    "seen",
    "players",
    "engine",
    "port",
    "album",
    "regional",
    "stop",
    "supplies",
    "started",
    "administration",
    "bar",
    "institute",
    "views",
    "plans",
    "double",
    "dog",
    "build",
    "screen",
    "exchange",
    "types",
    "soon",
    "sponsored",
    "lines",
    "electronic",
    "continue",
    "across",
    "benefits",
    "needed",
    "season",
    "apply",
    "someone",
    "held",
    "anything",
    "printer",
    "condition",
    "effective",
    "believe",
    "organization",
    "effect",
    "asked",
    "eur",
    "mind",
    "sunday",
    "selection",
    "casino",
    "lost",
    "tour",
    "menu",
    "volume",
    "cross",
    "anyone",
    "mortgage",
    "hope",
    "silver",
    "corporation",
    "wish",
    "inside",
    "solution",
    "mature",
    "role",
    "rather",
    "weeks",
    "addition",
    "came",
    "supply",
    "nothing",
    "certain",
    "executive",
    "running",
    "lower",
    "necessary",
    "union",
    "jewelry",
    "according",
    "clothing",
    "mon",
    "com",
    "particular",
    "fine",
    "names",
    "robert",
    "homepage",
    "hour",
    "gas",
    "skills",
    "six",
    "bush",
    "islands",
    "advice",
    "career",
    "military",
    "rental",
    "decision",
    "leave",
    "british",
    "teens",
    "pre",
    "huge",
    "sat",
    "woman",
    "facilities",
    "zip",
    "bid",
    "kind",
    "sellers",
    "middle",
    "move",
    "cable",
    "opportunities",
    "taking",
    "values",
    "division",
    "coming",
    "tuesday",
    "object",
    "lesbian",
    "appropriate",
    "machine",
    "logo",
    "length",
    "actually",
    "nice",
    "score",
    "statistics",
    "client",
    "returns",
    "capital",
    "follow",
    "sample",
    "investment",
    "sent",
    "shown",
    "saturday",
    "christmas",
    "england",
    "culture",
    "band",
    "flash",
    "lead",
    "george",
    "choice",
    "went",
    "starting",
    "registration",
    "thursday",
    "courses",
    "consumer",
    "airport",
    "foreign",
    "artist",
    "outside",
    "furniture",
    "levels",
    "channel",
    "letter",
    "mode",
    "phones",
    "ideas",
    "wednesday",
    "structure",
    "fund",
    "summer",
    "allow",
    "degree",
    "contract",
    "button",
    "releases",
    "homes",
    "super",
    "male",
    "matter",
    "custom",
    "virginia",
    "almost",
    "took",
    "located",
    "multiple",
    "asian",
    "distribution",
    "editor",
    "inn",
    "industrial",
    "cause",
    "potential",
    "song",
    "cnet",
    "ltd",
    "los",
    "focus",
    "late",
    "fall",
    "featured",
    "idea",
    "rooms",
    "female",
    "responsible",
    "inc",
    "communications",
    "win",
    "associated",
    "thomas",
    "primary",
    "cancer",
    "numbers",
    "reason",
    "tool",
    "browser",
    "spring",
    "foundation",
    "answer",
    "voice",
    "friendly",
    "schedule",
    "documents",
    "communication",
    "purpose",
    "feature",
    "bed",
    "comes",
    "police",
    "everyone",
    "independent",
    "approach",
    "cameras",
    "brown",
    "physical",
    "operating",
    "hill",
    "maps",
    "medicine",
    "deal",
    "hold",
    "ratings",
    "chicago",
    "forms",
    "glass",
    "happy",
    "tue",
    "smith",
    "wanted",
    "developed",
    "thank",
    "safe",
    "unique",
    "survey",
    "prior",
    "telephone",
    "sport",
    "ready",
    "feed",
    "animal",
    "sources",
    "mexico",
    "population",
    "regular",
    "secure",
    "navigation",
    "operations",
    "therefore",
    "simply",
    "evidence",
    "station",
    "christian",
    "round",
    "paypal",
    "favorite",
    "understand",
    "option",
    "master",
    "valley",
    "recently",
    "probably",
    "thu",
    "rentals",
    "sea",
    "built",
    "publications",
    "blood",
    "cut",
    "worldwide",
    "improve",
    "connection",
    "publisher",
    "hall",
    "larger",
    "anti",
    "networks",
    "earth",
    "parents",
    "nokia",
    "impact",
    "transfer",
    "introduction",
    "kitchen",
    "strong",
    "tel",
    "carolina",
    "wedding",
    "properties",
    "hospital",
    "ground",
    "overview",
    "ship",
    "accommodation",
    "owners",
    "disease",
    "excellent",
    "paid",
    "italy",
    "perfect",
    "hair",
    "opportunity",
    "kit",
    "classic",
    "basis",
    "command",
    "cities",
    "william",
    "express",
    "award",
    "distance",
    "tree",
    "peter",
    "assessment",
    "ensure",
    "thus",
    "wall",
    "involved",
    "extra",
    "especially",
    "interface",
    "partners",
    "budget",
    "rated",
    "guides",
    "success",
    "maximum",
    "operation",
    "existing",
    "quite",
    "selected",
    "boy",
    "amazon",
    "patients",
    "restaurants",
    "beautiful",
    "warning",
    "wine",
    "locations",
    "horse",
    "vote",
    "forward",
    "flowers",
    "stars",
    "significant",
    "lists",
    "technologies",
    "owner",
    "retail",
    "animals",
    "useful",
    "directly",
    "manufacturer",
    "ways",
    "est",
    "son",
    "providing",
    "rule",
    "mac",
    "housing",
    "takes",
    "bring",
    "catalog",
    "searches",
    "max",
    "trying",
    "mother",
    "authority",
    "considered",
    "told",
    "traffic",
    "programme",
    "joined",
    "input",
    "strategy",
    "feet",
    "agent",
    "valid",
    "bin",
    "modern",
    "senior",
    "ireland",
    "teaching",
    "door",
    "grand",
    "testing",
    "trial",
    "charge",
    "units",
    "instead",
    "canadian",
    "cool",
    "normal",
    "wrote",
    "enterprise",
    "ships",
    "entire",
    "educational",
    "leading",
    "metal",
    "positive",
    "fitness",
    "chinese",
    "opinion",
    "asia",
    "football",
    "abstract",
    "uses",
    "output",
    "funds",
    "greater",
    "likely",
    "develop",
    "employees",
    "artists",
    "alternative",
    "processing",
    "responsibility",
    "resolution",
    "java",
    "guest",
    "seems",
    "publication",
    "pass",
    "relations",
    "trust",
    "van",
    "contains",
    "session",
    "multi",
    "photography",
    "republic",
    "fees",
    "components",
    "vacation",
    "century",
    "academic",
    "assistance",
    "completed",
    "skin",
    "graphics",
    "indian",
    "prev",
    "ads",
    "mary",
    "expected",
    "ring",
    "grade",
    "dating",
    "pacific",
    "mountain",
    "organizations",
    "pop",
    "filter",
    "mailing",
    "vehicle",
    "longer",
    "consider",
    "int",
    "northern",
    "behind",
    "panel",
    "floor",
    "german",
    "buying",
    "match",
    "proposed",
    "default",
    "require",
    "iraq",
    "boys",
    "outdoor",
    "deep",
    "morning",
    "otherwise",
    "allows",
    "rest",
    "protein",
    "plant",
    "reported",
    "hit",
    "transportation",
    "pool",
    "mini",
    "politics",
    "partner",
    "disclaimer",
    "authors",
    "boards",
    "faculty",
    "parties",
    "fish",
    "membership",
    "mission",
    "eye",
    "string",
    "sense",
    "modified",
    "pack",
    "released",
    "stage",
    "internal",
    "goods",
    "recommended",
    "born",
    "unless",
    "richard",
    "detailed",
    "japanese",
    "race",
    "approved",
    "background",
    "target",
    "except",
    "character",
];

const FIRST: &[&str] = &[
    "Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory",
    "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter", "Yolanda",
    "Margaret", "Thomas", "Priya", "Kenji", "Fatima", "Lars", "Ingrid", "Mateo", "Chloe",
];
const LAST: &[&str] = &[
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Wood",
    "Jackson",
    "Clarke",
    "Nakamura",
    "Okafor",
    "Lindqvist",
    "Fernandez",
    "Kowalski",
    "Dubois",
];
/// Names with letters outside ASCII, sent RFC 2047 encoded.
const INTL_NAMES: &[&str] = &[
    "José Martínez",
    "Jürgen Müller",
    "Zoë Brontë",
    "François Lefèvre",
    "Søren Kierkegård",
    "Łukasz Wiśniewski",
    "Ana Łopez-Núñez",
    "Björk Guðmundsdóttir",
];
const INTL_WORDS: &[&str] = &[
    "Grüße",
    "Übersicht",
    "café",
    "Zürich",
    "naïve",
    "résumé",
    "Straße",
    "déjà",
    "Ærø",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "example.net",
    "mail.example.com",
    "lists.example.org",
    "corp.example",
];
const MAILERS: &[&str] = &[
    "Mozilla Thunderbird 115.6.0",
    "Apple Mail (2.3774.300.61.1.2)",
    "Microsoft Outlook 16.0",
    "Evolution 3.46.4",
    "Mutt/2.2.9 (2022-11-12)",
];

/// Fri, 05 Jan 2024 10:12:00 +0000 from seconds since the epoch.
pub fn rfc2822_date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        WD[days.rem_euclid(7) as usize],
        d,
        MON[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's days → (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn capitalize(w: &str) -> String {
    let mut c = w.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// RFC 2047 B encoding of a UTF-8 string, split into encoded words of at
/// most ~60 characters.
fn encode_b(text: &str) -> String {
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > 36 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(chunk);
    }
    words
        .iter()
        .map(|w| {
            format!(
                "=?UTF-8?B?{}?=",
                base64::engine::general_purpose::STANDARD.encode(w.as_bytes())
            )
        })
        .collect::<Vec<_>>()
        .join("\r\n ")
}

/// RFC 2047 Q encoding (one encoded word).
fn encode_q(text: &str) -> String {
    let mut out = String::from("=?UTF-8?Q?");
    for &b in text.as_bytes() {
        match b {
            b' ' => out.push('_'),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' => out.push(b as char),
            _ => out.push_str(&format!("={b:02X}")),
        }
    }
    out.push_str("?=");
    out
}

/// Quoted-printable for one text (CRLF lines), soft breaks at 76.
fn encode_qp(text: &str, out: &mut String) {
    for line in text.split("\r\n") {
        let mut col = 0;
        let bytes = line.as_bytes();
        for (k, &b) in bytes.iter().enumerate() {
            let last = k + 1 == bytes.len();
            let piece = match b {
                b'=' => "=3D".to_owned(),
                b' ' | b'\t' if last => format!("={b:02X}"),
                33..=126 | b' ' | b'\t' => (b as char).to_string(),
                _ => format!("={b:02X}"),
            };
            if col + piece.len() > 75 {
                out.push_str("=\r\n");
                col = 0;
            }
            col += piece.len();
            out.push_str(&piece);
        }
        out.push_str("\r\n");
    }
}

fn base64_lines(data: &[u8], out: &mut String) {
    let encoded = base64::engine::general_purpose::STANDARD.encode(data);
    for chunk in encoded.as_bytes().chunks(76) {
        // Base64 output is ASCII.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push_str("\r\n");
    }
}

fn person(rng: &mut Rng) -> (String, String) {
    let first = *rng.pick(FIRST);
    let last = *rng.pick(LAST);
    let domain = *rng.pick(DOMAINS);
    let addr = format!(
        "{}.{}@{}",
        first.to_ascii_lowercase(),
        last.to_ascii_lowercase(),
        domain
    );
    (format!("{first} {last}"), addr)
}

/// A header address: `"Name" <addr>` or RFC 2047 when non-ASCII.
fn mailbox(name: &str, addr: &str) -> String {
    if name.is_ascii() {
        format!("{name} <{addr}>")
    } else {
        format!("{} <{addr}>", encode_q(name))
    }
}

/// Paragraphs of text, about `size` bytes, lines wrapped at 72, CRLF.
fn paragraphs(rng: &mut Rng, size: usize, intl: bool, markers: &[&str]) -> String {
    let mut out = String::with_capacity(size + 256);
    let mut line = String::new();
    let mut sentence_start = true;
    // Marker sentences go on their own short lines at random points.
    let mut marker_at: Vec<(usize, &str)> = markers
        .iter()
        .map(|m| (rng.below(size as u64 + 1) as usize, *m))
        .collect();
    marker_at.sort();
    let mut markers_left = marker_at.into_iter().peekable();
    while out.len() < size {
        let mut w = if intl && rng.chance(0.03) {
            (*rng.pick(INTL_WORDS)).to_owned()
        } else {
            (*rng.pick(WORDS)).to_owned()
        };
        if sentence_start {
            w = capitalize(&w);
            sentence_start = false;
        }
        if rng.chance(0.08) {
            w.push('.');
            sentence_start = true;
        } else if rng.chance(0.05) {
            w.push(',');
        }
        if line.len() + w.len() + 1 > 72 {
            out.push_str(&line);
            out.push_str("\r\n");
            line.clear();
            if rng.chance(0.12) {
                out.push_str("\r\n");
            }
            while let Some((_, m)) = markers_left.next_if(|(at, _)| *at <= out.len()) {
                out.push_str(&format!("We still talk about the {m} from last week.\r\n"));
            }
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&w);
    }
    out.push_str(&line);
    out.push_str(".\r\n");
    for (_, m) in markers_left {
        out.push_str(&format!("We still talk about the {m} from last week.\r\n"));
    }
    out
}

fn html_of(text: &str) -> String {
    let mut html = String::with_capacity(text.len() + 200);
    html.push_str("<!DOCTYPE html>\r\n<html><head><meta charset=\"utf-8\"></head>\r\n<body>\r\n");
    for para in text.split("\r\n\r\n") {
        html.push_str("<p>");
        html.push_str(&para.replace('&', "&amp;").replace('<', "&lt;"));
        html.push_str("</p>\r\n");
    }
    html.push_str("</body></html>\r\n");
    html
}

/// A text part: headers and body, 7bit when ASCII, else quoted-printable.
fn text_part(subtype: &str, body: &str, out: &mut String) {
    if body.is_ascii() {
        out.push_str(&format!(
            "Content-Type: text/{subtype}; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
        ));
        out.push_str(body);
    } else {
        out.push_str(&format!(
            "Content-Type: text/{subtype}; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        ));
        encode_qp(body, out);
    }
}

fn attachment(rng: &mut Rng, i: u64, out: &mut String) {
    let size = rng.log_uniform(3_000, 250_000);
    let kind = rng.below(4);
    let (ctype, name) = match kind {
        0 => ("application/pdf", format!("report-{i}.pdf")),
        1 => ("image/png", format!("photo-{i}.png")),
        2 => ("application/zip", format!("archive-{i}.zip")),
        _ => ("text/csv", format!("figures-{i}.csv")),
    };
    let data = if kind == 3 {
        let mut csv = String::from("date,region,amount,units\r\n");
        while csv.len() < size {
            csv.push_str(&format!(
                "2024-{:02}-{:02},{},{}.{:02},{}\r\n",
                rng.below(12) + 1,
                rng.below(28) + 1,
                rng.pick(&["north", "south", "east", "west"]),
                rng.below(100_000),
                rng.below(100),
                rng.below(500)
            ));
        }
        csv.into_bytes()
    } else {
        let mut data = vec![0u8; size];
        rng.fill(&mut data);
        data
    };
    if rng.chance(0.2) {
        // An RFC 2231 file name outside ASCII.
        out.push_str(&format!(
            "Content-Type: {ctype}; name=\"=?UTF-8?Q?=C3=9Cbersicht-{i}?=\"\r\n\
             Content-Disposition: attachment;\r\n filename*=UTF-8''%C3%9Cbersicht-{i}\r\n"
        ));
    } else {
        out.push_str(&format!(
            "Content-Type: {ctype}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n"
        ));
    }
    out.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
    base64_lines(&data, out);
}

fn message_id(seed: u64, i: u64) -> String {
    format!("<{seed:x}.{i}@bench.example>")
}

fn base_subject(seed: u64, i: u64) -> (String, bool) {
    let mut rng = Rng::new(seed ^ i.wrapping_mul(0xD134_2543_DE82_EF95) ^ 0x5B);
    let n = 3 + rng.below(6) as usize;
    let mut words: Vec<String> = (0..n).map(|_| (*rng.pick(WORDS)).to_owned()).collect();
    let intl = rng.chance(0.12);
    if intl {
        let at = rng.below(n as u64) as usize;
        words[at] = (*rng.pick(INTL_WORDS)).to_owned();
    }
    words[0] = capitalize(&words[0]);
    (words.join(" "), intl)
}

/// Message `i` of the corpus for `seed`, CRLF line ends.
pub fn message(seed: u64, i: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed.wrapping_mul(0x1000_0000_01B3) ^ i.wrapping_mul(0x9E37_79B9));
    let mut h = String::with_capacity(1024);

    // Thread: about 30 % are replies to a recent message.
    let parent = if i > 0 && rng.chance(0.3) {
        Some(i - 1 - rng.below(i.min(40)))
    } else {
        None
    };
    let root = parent.map(|p| p - p % 8);

    // Subject.
    let (mut subject, mut intl) = base_subject(seed, root.unwrap_or(i));
    if has_subject_marker(i) {
        subject.push_str(" Xylophone");
    }
    if has_text_marker_subject(i) {
        subject.push_str(" marmalade");
    }
    if parent.is_some() {
        subject = format!("Re: {subject}");
    }
    if !intl && (has_subject_marker(i) && i % 30 == 3) {
        intl = true; // some marker subjects are encoded even when ASCII
    }
    let subject_header = if intl {
        if rng.chance(0.5) {
            encode_b(&subject)
        } else {
            encode_q(&subject)
        }
    } else {
        subject
    };

    // From / To / Cc.
    let from = if has_from_marker(i) {
        mailbox("Quinn Okafor", "quinn.quokka@zoo.example")
    } else if rng.chance(0.15) {
        let name = *rng.pick(INTL_NAMES);
        mailbox(
            name,
            &format!("user{}@{}", rng.below(500), rng.pick(DOMAINS)),
        )
    } else {
        let (name, addr) = person(&mut rng);
        mailbox(&name, &addr)
    };
    let (to_name, to_addr) = person(&mut rng);
    let date = 1_704_067_200 + i as i64 * 97 + rng.below(60) as i64;

    h.push_str(&format!("Return-Path: <bounce-{i}@bench.example>\r\n"));
    h.push_str(&format!(
        "Received: from mx{}.example.net (mx.example.net [192.0.2.{}])\r\n\tby mail.bench.example with ESMTPS id {:x}\r\n\tfor <{to_addr}>; {}\r\n",
        rng.below(9),
        rng.below(250) + 1,
        rng.next_u64(),
        rfc2822_date(date + 2)
    ));
    h.push_str(&format!("Date: {}\r\n", rfc2822_date(date)));
    h.push_str(&format!("From: {from}\r\n"));
    h.push_str(&format!("To: {}\r\n", mailbox(&to_name, &to_addr)));
    if rng.chance(0.25) {
        let (n, a) = person(&mut rng);
        let (n2, a2) = person(&mut rng);
        h.push_str(&format!(
            "Cc: {},\r\n {}\r\n",
            mailbox(&n, &a),
            mailbox(&n2, &a2)
        ));
    }
    h.push_str(&format!("Subject: {subject_header}\r\n"));
    h.push_str(&format!("Message-ID: {}\r\n", message_id(seed, i)));
    if let (Some(p), Some(r)) = (parent, root) {
        h.push_str(&format!("In-Reply-To: {}\r\n", message_id(seed, p)));
        if r != p {
            h.push_str(&format!(
                "References: {}\r\n {}\r\n",
                message_id(seed, r),
                message_id(seed, p)
            ));
        } else {
            h.push_str(&format!("References: {}\r\n", message_id(seed, p)));
        }
    }
    if rng.chance(0.6) {
        h.push_str(&format!("X-Mailer: {}\r\n", rng.pick(MAILERS)));
    }
    h.push_str("MIME-Version: 1.0\r\n");

    // Body text, with the body markers.
    let mut markers = Vec::new();
    if has_body_marker(i) {
        markers.push(BODY_MARKER);
    }
    if has_text_marker_body(i) {
        markers.push(TEXT_MARKER);
    }
    let text_intl = rng.chance(0.2);
    let size = rng.log_uniform(300, 12_000);
    let mut text = paragraphs(&mut rng, size, text_intl, &markers);
    if parent.is_some() {
        let quoted_size = rng.log_uniform(200, 2_000);
        let quoted = paragraphs(&mut rng, quoted_size, false, &[]);
        text.push_str("\r\nOn an earlier day, someone wrote:\r\n");
        for line in quoted.split("\r\n").filter(|l| !l.is_empty()) {
            text.push_str("> ");
            text.push_str(line);
            text.push_str("\r\n");
        }
    }
    if rng.chance(0.5) {
        text.push_str("\r\n-- \r\nSent from the benchmark corpus\r\n");
    }

    let kind = rng.below(100);
    let boundary = format!("----=_Part_{i}_{:08x}", rng.next_u64() as u32);
    let mut body = String::with_capacity(size * 2 + 512);
    if kind < 58 {
        // text/plain
        text_part("plain", &text, &mut h);
        return h.into_bytes();
    } else if kind < 86 {
        // multipart/alternative
        h.push_str(&format!(
            "Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n"
        ));
        body.push_str("This is a multi-part message in MIME format.\r\n");
        body.push_str(&format!("--{boundary}\r\n"));
        text_part("plain", &text, &mut body);
        body.push_str(&format!("--{boundary}\r\n"));
        text_part("html", &html_of(&text), &mut body);
        body.push_str(&format!("--{boundary}--\r\n"));
    } else {
        // multipart/mixed: text (or alternative) and attachments
        h.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n"
        ));
        body.push_str(&format!("--{boundary}\r\n"));
        if rng.chance(0.4) {
            let inner = format!("{boundary}_alt");
            body.push_str(&format!(
                "Content-Type: multipart/alternative; boundary=\"{inner}\"\r\n\r\n"
            ));
            body.push_str(&format!("--{inner}\r\n"));
            text_part("plain", &text, &mut body);
            body.push_str(&format!("--{inner}\r\n"));
            text_part("html", &html_of(&text), &mut body);
            body.push_str(&format!("--{inner}--\r\n"));
        } else {
            text_part("plain", &text, &mut body);
        }
        let attachments = if rng.chance(0.2) { 2 } else { 1 };
        for _ in 0..attachments {
            body.push_str(&format!("--{boundary}\r\n"));
            attachment(&mut rng, i, &mut body);
        }
        body.push_str(&format!("--{boundary}--\r\n"));
    }
    h.push_str(&body);
    h.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_varied() {
        assert_eq!(message(7, 123), message(7, 123));
        assert_ne!(message(7, 123), message(8, 123));
        let sizes: Vec<usize> = (0..400).map(|i| message(42, i).len()).collect();
        let min = *sizes.iter().min().unwrap();
        let max = *sizes.iter().max().unwrap();
        assert!(min < 2_000, "min {min}");
        assert!(max > 100_000, "max {max}");
    }

    #[test]
    fn markers_where_expected() {
        for i in 0..300u64 {
            let m = String::from_utf8(message(42, i)).unwrap();
            let lower = m.to_ascii_lowercase();
            let (head, body) = lower.split_once("\r\n\r\n").unwrap();
            let from = head.lines().find(|l| l.starts_with("from:")).unwrap();
            assert_eq!(from.contains(FROM_MARKER), has_from_marker(i), "{i}");
            assert_eq!(body.contains(BODY_MARKER), has_body_marker(i), "{i}");
            assert!(!head.contains(BODY_MARKER));
            if has_text_marker_body(i) {
                assert!(body.contains(TEXT_MARKER), "{i}");
            }
            if !has_text_marker_body(i) && !has_text_marker_subject(i) {
                assert!(!lower.contains(TEXT_MARKER), "{i}");
            }
            if !has_subject_marker(i) {
                assert!(!lower.contains(SUBJECT_MARKER), "{i}");
            }
            assert!(!m.contains("\n\n") && !m.replace("\r\n", "").contains('\n'));
        }
        let h = expected_hits(1000);
        assert_eq!((h.subject, h.from, h.body, h.text), (100, 50, 20, 80));
    }

    #[test]
    fn no_vocabulary_word_contains_a_marker() {
        for w in WORDS
            .iter()
            .chain(FIRST)
            .chain(LAST)
            .chain(INTL_WORDS)
            .chain(DOMAINS)
        {
            for m in [SUBJECT_MARKER, FROM_MARKER, BODY_MARKER, TEXT_MARKER] {
                assert!(!w.to_ascii_lowercase().contains(m), "{w}");
            }
        }
    }

    #[test]
    fn dates() {
        assert_eq!(
            rfc2822_date(1_704_067_200),
            "Mon, 01 Jan 2024 00:00:00 +0000"
        );
        assert_eq!(rfc2822_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
    }
}
