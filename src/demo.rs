//! Sample data of `idgraph demo`: [`write_sample`] writes the customer data of one fictional
//! retailer, Kestrel Outfitters, as three source files and returns each with its mapping.
//!
//! | file | source | key | rows (default seed) |
//! |---|---|---|---|
//! | `crm.csv` | `crm` | `customer_no` | about 2,000 customer accounts |
//! | `web_sessions.jsonl` | `web` | `session_id` | about 3,000 web sessions |
//! | `orders.csv` | `orders` | `order_id` | about 2,400 orders |
//!
//! The files describe 2,000 people, and `people.csv` ([`TRUTH_FILE`]) records which person each
//! row belongs to, so that tests can score a resolution against it.
//!
//! The data contains the cases that make identity resolution hard:
//!
//! - duplicate CRM accounts: about 8% of CRM customers have a second row with another
//!   `customer_no`, the same national id or the same email, and a name spelled differently
//!   (accent dropped, `ü` written `ue`, a typo, capitals);
//! - [`PLACEHOLDER_ROWS`] CRM rows whose email, phone and national id are placeholders such as
//!   `unknown`, `n/a`, `0000000000` and `none@none.example`. The same placeholder values recur
//!   across unrelated people, so they must never link records;
//! - three national id conflicts. In two, a clerk typed one customer's email into another
//!   customer's row, so two people share an email but not a national id. In the third, one
//!   person's duplicate account has two digits of the national id swapped. Resolution finds
//!   more conflicts where a shared device or the support mailbox joins people;
//! - emails spelled differently in orders: capitals, surrounding spaces, and Gmail dots,
//!   `+tags` and `googlemail.com` (`Ann.Lee+shop@gmail.com` for `annlee@gmail.com`);
//! - phones in national and international formats: `(415) 555-0142`, `+1 415-555-0142`,
//!   `4155550142`, `1-415-555-0142`, and London numbers as `+44 20 7946 0123`;
//! - orders that support agents placed for [`SUPPORT_ORDERS`] unrelated people with the shared
//!   mailbox [`SUPPORT_MAILBOX`];
//! - shared devices: a family tablet in [`FAMILY_TABLETS`] households and
//!   [`LIBRARY_COMPUTERS`] library computers used by unrelated people;
//! - [`OFFICES`] office IP addresses shared by the sessions of colleagues, and households that
//!   share a home IP address.
//!
//! Every value is fictional where a reserved range exists. US phones are 555-0100 to 555-0199,
//! which NANPA reserves for fiction, and UK phones are 020 7946 0000 to 0999, Ofcom's range for
//! drama. US national ids have area numbers 900 to 999, which the Social Security
//! Administration never assigns to social security numbers, and UK ones start with `QQ`, a
//! prefix HMRC never issues. Email domains are under the `.example` top-level domain of
//! RFC 2606, except `gmail.com`, which the Gmail normalization rule needs, and IP addresses are
//! in the documentation ranges of RFC 5737 and RFC 3849.
//!
//! The output depends only on the seed: every choice comes from one ChaCha8 stream, no clock is
//! read and no hash map is iterated. The same seed gives byte-identical files on every machine
//! as long as the versions of rand, rand_chacha and jiff pinned in Cargo.lock stay the same.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Seed of `idgraph demo` when no `--seed` is given.
pub const DEFAULT_SEED: u64 = 20_240_601;

/// Name of the ground-truth file that [`write_sample`] writes next to the sources.
///
/// It is a CSV file with the header `source,key,person_id` and one row per record of every
/// source: the source name (`crm`, `web`, `orders`), the record key, and the id of the
/// fictional person behind the record (`P-0001` to `P-2000`). Rows follow the order of the
/// sources and of the rows within each file.
pub const TRUTH_FILE: &str = "people.csv";

/// Address of the support mailbox that agents use when they place an order for a customer.
pub const SUPPORT_MAILBOX: &str = "support@kestrel-outfitters.example";

/// Number of people whose orders include one placed with [`SUPPORT_MAILBOX`].
pub const SUPPORT_ORDERS: usize = 8;

/// Number of CRM rows whose email, phone and national id are replaced by placeholders such as
/// `unknown`.
pub const PLACEHOLDER_ROWS: usize = 15;

/// Number of households whose members share one tablet.
pub const FAMILY_TABLETS: usize = 6;

/// Number of library computers, each used by six to eight unrelated people.
pub const LIBRARY_COMPUTERS: usize = 2;

/// Number of offices, each the workplace of 8 to 15 people whose sessions often come from the
/// office's IP address.
pub const OFFICES: usize = 4;

/// A file written by [`write_sample`], with the mapping that ingests it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoSource {
    /// Source name, such as `crm`, equal to `source` in the mapping.
    pub name: String,
    /// Path of the data file.
    pub path: PathBuf,
    /// The file's mapping in TOML, in the format of [`crate::ingest::Mapping`].
    pub mapping_toml: String,
}

/// Writes the sample data of `seed` into `dir` and returns its sources in ingest order: `crm`,
/// `web`, `orders`.
///
/// Creates `dir` when it is missing and overwrites earlier sample files. Also writes the ground
/// truth [`TRUTH_FILE`], which is not a source. The mappings are only returned, so the caller
/// decides where to store them.
///
/// # Errors
///
/// Fails when `dir` cannot be created or a file cannot be written. The error names the path.
pub fn write_sample(dir: &Path, seed: u64) -> io::Result<Vec<DemoSource>> {
    let sample = Sample::generate(seed);
    std::fs::create_dir_all(dir).map_err(|error| with_path(error, dir))?;

    let files = [
        ("crm", CRM_FILE, sample.crm_csv()?, CRM_MAPPING),
        ("web", WEB_FILE, sample.sessions_jsonl()?, WEB_MAPPING),
        ("orders", ORDERS_FILE, sample.orders_csv()?, ORDERS_MAPPING),
    ];
    let mut sources = Vec::with_capacity(files.len());
    for (name, file, contents, mapping) in files {
        let path = dir.join(file);
        std::fs::write(&path, contents).map_err(|error| with_path(error, &path))?;
        sources.push(DemoSource {
            name: name.to_owned(),
            path,
            mapping_toml: mapping.to_owned(),
        });
    }

    let truth = dir.join(TRUTH_FILE);
    std::fs::write(&truth, sample.truth_csv()?).map_err(|error| with_path(error, &truth))?;
    Ok(sources)
}

/// Adds `path` to the message of an I/O error, keeping its kind.
fn with_path(error: io::Error, path: &Path) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

const CRM_FILE: &str = "crm.csv";
const WEB_FILE: &str = "web_sessions.jsonl";
const ORDERS_FILE: &str = "orders.csv";

const CRM_MAPPING: &str = r#"# Customer accounts of the CRM. The other columns become attributes.
source = "crm"
format = "csv"
key = "customer_no"
timestamp = "updated_at"

[identifiers]
email = "email"
phone = "phone"
national_id = "national_id"
"#;

const WEB_MAPPING: &str = r#"# Web sessions as JSON Lines. `email` is set after a login.
source = "web"
format = "jsonl"
key = "session_id"
timestamp = "started_at"

[identifiers]
cookie = "cookie"
device_id = "device_id"
email = "email"
ip = "ip"
"#;

const ORDERS_MAPPING: &str = r#"# Web shop orders. The amount is in US dollars.
source = "orders"
format = "csv"
key = "order_id"
timestamp = "ordered_at"

[identifiers]
email = "email"
phone = "phone"
"#;

const CRM_HEADER: [&str; 11] = [
    "customer_no",
    "first_name",
    "last_name",
    "email",
    "phone",
    "national_id",
    "date_of_birth",
    "street",
    "city",
    "postcode",
    "updated_at",
];

const ORDERS_HEADER: [&str; 6] = [
    "order_id",
    "email",
    "phone",
    "amount",
    "ordered_at",
    "shipping_postcode",
];

/// Number of fictional people.
const PEOPLE: usize = 2_000;

const PERCENT_IN_CRM: u32 = 92;
const PERCENT_DUPLICATE_ACCOUNT: u32 = 8;
const PERCENT_UK: u32 = 3;
const PERCENT_GMAIL: u32 = 40;

/// Chance that a person moves in with the person generated just before.
const PERCENT_JOINS_HOUSEHOLD: u32 = 6;
const MAX_HOUSEHOLD_SIZE: usize = 3;

/// Relative weights of a person having 0, 1, 2, 3 or 4 web sessions on their own devices.
const SESSIONS_PER_PERSON: [u32; 5] = [25, 30, 22, 14, 9];

/// Relative weights of a person having 0, 1, 2 or 3 orders.
const ORDERS_PER_PERSON: [u32; 4] = [30, 35, 20, 15];

/// Number of orders whose email and phone are placeholders.
const PLACEHOLDER_ORDERS: usize = 6;

/// Placeholder values in CRM rows. Row `k` of the placeholder rows takes email `k % 4`, phone
/// `(k + 1) % 4` and national id `(k + 2) % 4`, so each value recurs in several rows.
const PLACEHOLDER_EMAILS: [&str; 4] = ["unknown", "n/a", "", "none@none.example"];
const PLACEHOLDER_PHONES: [&str; 4] = ["0000000000", "n/a", "", "unknown"];
const PLACEHOLDER_NATIONAL_IDS: [&str; 4] = ["", "unknown", "n/a", "000-00-0000"];

/// Spellings of [`SUPPORT_MAILBOX`] in orders.
const SUPPORT_SPELLINGS: [&str; 3] = [
    SUPPORT_MAILBOX,
    "Support@Kestrel-Outfitters.example",
    " support@kestrel-outfitters.example ",
];

const SECONDS_PER_DAY: i64 = 86_400;
const SECONDS_PER_HOUR: i64 = 3_600;
/// 2023-01-01T00:00:00Z, the earliest CRM update.
const CRM_START: i64 = 1_672_531_200;
/// 2024-01-01T00:00:00Z, the earliest web session and order.
const ACTIVITY_START: i64 = 1_704_067_200;
/// 2025-07-01T00:00:00Z, the end of all activity.
const ACTIVITY_END: i64 = 1_751_328_000;
/// 1945-01-01 and 2007-01-01 in days since the Unix epoch: the range of birth dates.
const BIRTH_DAYS: (i64, i64) = (-9_131, 13_514);

const PERSONAL_DOMAINS: [&str; 5] = [
    "example.com",
    "example.net",
    "example.org",
    "mail.example",
    "post.example",
];
const WORK_DOMAINS: [&str; 4] = [
    "northpeak-logistics.example",
    "bluefern-health.example",
    "corvid-analytics.example",
    "lumen-schools.example",
];
const GMAIL_TAGS: [&str; 4] = ["shop", "kestrel", "orders", "deals"];

/// Number of styles in which [`Phone::spell`] writes a US phone number.
const US_PHONE_STYLES: usize = 7;

const FIRST_NAMES: &str = "\
    Aaliyah Ada Adam Adriana Agnieszka Ahmed Aiko Aisha Akosua Alejandro Aleksander Alice \
    Amara Amelia Amir Ana Andrés Andrew Anh Anjali Ann Anna Anneliese Antoine Arjun Åsa Astrid \
    Ayesha Ayumi Beatriz Benjamin Bjørn Bruno Camila Carlos Carmen Chiara Chidi Chinedu Chloé \
    Christopher Claire Dara Darius David Deepa Diego Dmitri Elena Elif Eliza Emeka Emil Emily \
    Emma Eun-ji Ewa Farah Fatima Felipe Femi Finn François Freya Gabriel Giorgos Giulia Grace \
    Hana Hannah Hassan Héctor Helga Hiroshi Hoang Ibrahim Ilse Ingrid Isaac Isabel Ivan Jack \
    Jakub Jamal James Javier Jean Jiho Jin João Jonas Jorge José Joseph Juan Julia Julián \
    Kaito Kalani Karim Katarzyna Kemal Kenji Kofi Kwame Lars Laura Léa Leila Leilani Leon Liam \
    Lin Linh Lucas Lucía Luis Maja Malik Manon María Mariam Marco Marek Markus Mateo Matteo \
    Maya Mehmet Mei Mette Mia Michael Miguel Mikael Mohammed Nadia Naomi Nia Niamh Nikolai Nils \
    Noah Nomvula Noor Oisín Olga Oliver Olivia Omar Ömer Oscar Pablo Paolo Patrick Paulina \
    Pedro Priya Rafael Rahul Rania Ravi Renée Ricardo Rosa Ruth Ryan Sakura Samir Samuel \
    Santiago Sara Sarah Seo-yeon Sergei Shreya Siddharth Sofia Søren Sophie Stefan Sunita Sven \
    Takeshi Tamar Teresa Thabo Thomas Tomás Tuan Ulla Valentina Victor Vivek Wei William Xavier \
    Xiu Yara Yasmin Yuki Yusuf Zainab Zeynep Zoë Zofia";

const SURNAMES: &str = "\
    Adams Adeyemi Ahmed Åberg Ali Allen Almeida Álvarez Andersen Anderson Baker Banerjee Barnes \
    Becker Bell Bennett Bianchi Boateng Bonnet Brooks Brown Byrne Campbell Carter Carvalho \
    Castillo Çelik Chen Cho Choi Clark Cohen Collins Colombo Cook Costa Das Demir Díaz Dlamini \
    Dubois Dvořák Edwards Esposito Evans Fernández Ferrari Ferreira Fischer Flores Friedman \
    García Georgiou Girard Gómez Gonçalves González Green Guzmán Gupta Haddad Hall Hansen \
    Harris Hernández Hill Hoffmann Horváth Huang Hughes Hussain Ito Ivanov Iyer Jackson Jiménez \
    Johansen Johnson Jones Jung Kamau Kang Katz Kaya Kelly Khan Kim King Kobayashi Korhonen \
    Kowalczyk Kowalski Kumar Kuznetsov Larsen Laurent Lee Lefèvre Levi Lewandowski Lewis Li \
    Lindqvist Liu López Mäkinen MacDonald Mansour Martin Martínez Mensah Meyer Mitchell Moore \
    Moreau Morris Müller Murphy Murray Nagy Nair Nakamura Nasser Ndlovu Nelson Nguyen Nielsen \
    Novák Nowak Núñez Nyström O'Brien O'Connor Ødegaard Okafor Okonkwo Oliveira Otieno \
    Papadopoulos Park Patel Pedersen Peña Pereira Pérez Petrov Pham Phan Phillips Popescu \
    Powell Price Rahman Ramírez Reddy Reed Ricci Rivera Roberts Rodríguez Romano Ross Rossi \
    Ruiz Russo Şahin Sánchez Santos Sato Schmidt Schneider Schulz Scott Sharma Silva Singh \
    Smirnov Smith Söderberg Souza Stewart Suzuki Takahashi Tanaka Taylor Thompson Torres Tran \
    Turner Vargas Virtanen Vu Wagner Walker Walsh Wang Ward Watanabe Weber White Wiśniewski \
    Wójcik Wood Wright Wu Yamamoto Yang Yılmaz Yoon Young Zhang Zhao Zhou";

const STREETS: &str = "\
    Maple Street|Oak Avenue|Cedar Lane|Elm Street|Pine Road|Birch Court|Willow Way|\
    Lakeview Drive|Hillcrest Road|Park Avenue|Main Street|Church Street|River Road|Mill Lane|\
    Highland Avenue|Washington Street|Lincoln Avenue|Jefferson Street|Franklin Street|\
    Chestnut Street|Walnut Street|Spruce Street|Ash Grove|Orchard Lane|Meadow Drive|\
    Harbor View Road|Station Road|Victoria Road|Queens Road|Grove Terrace|Canal Street|\
    Market Street|Bridge Street";

/// US cities: name, ZIP codes, area codes. Every area code is valid with 555-01xx numbers in
/// the metadata of phonenumber 0.3.10, which a test checks.
const US_CITIES: &str = "\
    San Francisco|94110 94117 94122|415 628
    Oakland|94607 94610 94612|510 341
    Los Angeles|90026 90034 90042|213 323 310
    San Diego|92101 92104 92116|619 858
    Seattle|98103 98115 98122|206
    Portland|97202 97211 97214|503 971
    Denver|80203 80206 80211|303 720
    Austin|78702 78704 78751|512 737
    Houston|77006 77008 77019|713 832 281
    Dallas|75204 75206 75214|214 469 972
    Chicago|60614 60622 60647|312 773 872
    Minneapolis|55405 55406 55408|612
    Detroit|48201 48207 48214|313
    Boston|02116 02118 02130|617 857
    New York|10003 10025 11215|212 646 718 917
    Philadelphia|19103 19123 19146|215 267
    Washington|20001 20009 20010|202
    Atlanta|30306 30307 30312|404 470 678
    Miami|33131 33133 33137|305 786
    Nashville|37203 37206 37212|615
    New Orleans|70115 70116 70119|504
    Phoenix|85004 85006 85013|602 480
    Salt Lake City|84102 84103 84105|801 385
    Pittsburgh|15206 15213 15217|412
    Columbus|43201 43206 43215|614
    Raleigh|27601 27603 27608|919 984
    Madison|53703 53705 53711|608
    Albuquerque|87102 87106 87110|505
    Honolulu|96813 96815 96822|808
    Anchorage|99501 99503 99508|907";

/// London, home of the UK customers. Its phones are in the 020 7946 range.
const LONDON: &str = "London|E1 6AN,N1 9GU,SE1 7PB,SW9 8BJ,NW5 2HB,E8 3RL,W2 4QH,N16 0LX|";

/// A city with its postcodes and the area codes of its phone numbers (none outside the US).
struct City {
    name: &'static str,
    postcodes: Vec<&'static str>,
    area_codes: Vec<u16>,
}

impl City {
    /// Parses `name|postcodes|area codes`. Postcodes are separated by `,` when `comma` is set
    /// and by spaces otherwise.
    fn parse(line: &'static str, comma: bool) -> City {
        let mut fields = line.trim().split('|');
        let mut next = || fields.next().unwrap_or_default();
        let name = next();
        let postcodes = next();
        let postcodes = if comma {
            postcodes.split(',').collect()
        } else {
            postcodes.split_whitespace().collect()
        };
        let area_codes = next()
            .split_whitespace()
            .map(|code| code.parse().expect("area codes in US_CITIES are numbers"))
            .collect();
        City {
            name,
            postcodes,
            area_codes,
        }
    }
}

/// The built-in word lists, parsed once per sample.
struct Catalog {
    first_names: Vec<&'static str>,
    surnames: Vec<&'static str>,
    streets: Vec<&'static str>,
    us_cities: Vec<City>,
    london: City,
    /// Area codes of every US city, in table order.
    area_codes: Vec<u16>,
}

impl Catalog {
    fn new() -> Catalog {
        let us_cities: Vec<City> = US_CITIES
            .lines()
            .map(|line| City::parse(line, false))
            .collect();
        let area_codes = us_cities
            .iter()
            .flat_map(|city| city.area_codes.clone())
            .collect();
        Catalog {
            first_names: FIRST_NAMES.split_whitespace().collect(),
            surnames: SURNAMES.split_whitespace().collect(),
            streets: STREETS.split('|').collect(),
            us_cities,
            london: City::parse(LONDON, true),
            area_codes,
        }
    }
}

/// Random choices drawn from one seeded ChaCha8 stream. Ranges are sampled as `u64` and `i64`,
/// never `usize`, so that the stream does not depend on the platform's pointer width.
struct Random(ChaCha8Rng);

impl Random {
    /// Returns a number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        self.0.random_range(0..n as u64) as usize
    }

    /// Returns true with the given chance in percent.
    fn chance(&mut self, percent: u32) -> bool {
        self.0.random_range(0..100_u32) < percent
    }

    fn between(&mut self, start: i64, end: i64) -> i64 {
        self.0.random_range(start..end)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Returns an index of `weights`, chosen with a chance proportional to its weight.
    fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut roll = self.0.random_range(0..total);
        for (index, &weight) in weights.iter().enumerate() {
            if roll < weight {
                return index;
            }
            roll -= weight;
        }
        weights.len() - 1
    }

    /// Shuffles `items` in place (Fisher-Yates).
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }

    fn hex(&mut self, digits: usize) -> String {
        (0..digits)
            .map(|_| char::from_digit(self.below(16) as u32, 16).unwrap_or('0'))
            .collect()
    }

    /// Returns a version 4 UUID.
    fn uuid(&mut self) -> String {
        let variant = *self.pick(&['8', '9', 'a', 'b']);
        format!(
            "{}-{}-4{}-{variant}{}-{}",
            self.hex(8),
            self.hex(4),
            self.hex(3),
            self.hex(3),
            self.hex(12)
        )
    }
}

/// A US phone number 555-01xx in an area code, or a London number 020 7946 0xxx.
#[derive(Clone, Copy, Debug)]
enum Phone {
    Us { area: u16, line: u16 },
    London { line: u16 },
}

impl Phone {
    /// Writes the number in one of [`US_PHONE_STYLES`] national and international styles
    /// (three for London numbers), chosen by `style` modulo their count.
    fn spell(self, style: usize) -> String {
        match self {
            Phone::Us { area, line } => match style % US_PHONE_STYLES {
                0 => format!("({area}) 555-{line:04}"),
                1 => format!("{area}-555-{line:04}"),
                2 => format!("+1 {area}-555-{line:04}"),
                3 => format!("{area}555{line:04}"),
                4 => format!("{area}.555.{line:04}"),
                5 => format!("1-{area}-555-{line:04}"),
                _ => format!("+1{area}555{line:04}"),
            },
            Phone::London { line } => match style % 3 {
                0 => format!("+44 20 7946 {line:04}"),
                1 => format!("+44207946{line:04}"),
                _ => format!("+44 207 946 {line:04}"),
            },
        }
    }
}

/// A personal email address built from name parts, such as `ann.lee7@example.com`.
#[derive(Clone, Debug)]
struct Email {
    parts: Vec<String>,
    separator: &'static str,
    /// Digits appended to the last part to make the address unique, often empty.
    number: String,
    domain: &'static str,
}

impl Email {
    fn address(&self) -> String {
        format!(
            "{}{}@{}",
            self.parts.join(self.separator),
            self.number,
            self.domain
        )
    }

    fn is_gmail(&self) -> bool {
        self.domain == "gmail.com"
    }

    /// Returns the mailbox that the address delivers to. Gmail ignores dots, so `ann.lee` and
    /// `annlee` at gmail.com are one mailbox and must not go to two people.
    fn mailbox(&self) -> String {
        if self.is_gmail() {
            format!("{}{}@gmail.com", self.parts.concat(), self.number)
        } else {
            self.address()
        }
    }
}

#[derive(Clone, Debug)]
struct Address {
    street: String,
    city: &'static str,
    postcode: &'static str,
}

/// A fictional person: the truth behind the rows of every source.
struct Person {
    /// Id in the ground truth, such as `P-0042`.
    id: String,
    first_name: &'static str,
    last_name: &'static str,
    email: Email,
    phone: Phone,
    /// National id as the person writes it: `912-34-5678`, or `QQ 12 34 56 C` in the UK.
    national_id: String,
    birth_date: String,
    address: Address,
    uk: bool,
    /// Index of the person's household in the list that [`Generator::people`] returns, for
    /// people who live with others.
    household: Option<usize>,
    in_crm: bool,
    home_ip: String,
    office_ip: Option<String>,
}

#[derive(Clone, Debug)]
struct CrmRow {
    person: usize,
    customer_no: String,
    first_name: String,
    last_name: String,
    email: String,
    phone: String,
    national_id: String,
    address: Address,
    updated_at: i64,
}

/// A browser on a device, with the cookie it currently holds.
#[derive(Clone, Debug)]
struct Device {
    id: String,
    cookie: String,
}

struct Session {
    person: usize,
    session_id: String,
    cookie: String,
    device_id: String,
    ip: String,
    /// Email field of the JSON object: `None` leaves it out and `Some(None)` writes `null`.
    email: Option<Option<String>>,
    started_at: i64,
}

struct Order {
    person: usize,
    order_id: String,
    email: String,
    phone: String,
    amount_cents: u32,
    ordered_at: i64,
    shipping_postcode: &'static str,
}

/// One web session as a line of `web_sessions.jsonl`, with the fields in this order.
#[derive(Serialize)]
struct SessionLine<'a> {
    session_id: &'a str,
    cookie: &'a str,
    device_id: &'a str,
    ip: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<Option<&'a str>>,
    started_at: String,
}

/// The generated people and the rows of every source, in file order.
struct Sample {
    people: Vec<Person>,
    crm: Vec<CrmRow>,
    sessions: Vec<Session>,
    orders: Vec<Order>,
}

impl Sample {
    fn generate(seed: u64) -> Sample {
        let catalog = Catalog::new();
        let mut generator = Generator {
            random: Random(ChaCha8Rng::seed_from_u64(seed)),
            claimed: BTreeSet::new(),
            catalog: &catalog,
        };
        let (people, households) = generator.people();
        let crm = generator.crm_rows(&people);
        let sessions = generator.sessions(&people, &households);
        let orders = generator.orders(&people);
        Sample {
            people,
            crm,
            sessions,
            orders,
        }
    }

    fn crm_csv(&self) -> io::Result<Vec<u8>> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(CRM_HEADER)?;
        for row in &self.crm {
            let person = &self.people[row.person];
            writer.write_record([
                row.customer_no.as_str(),
                row.first_name.as_str(),
                row.last_name.as_str(),
                row.email.as_str(),
                row.phone.as_str(),
                row.national_id.as_str(),
                person.birth_date.as_str(),
                row.address.street.as_str(),
                row.address.city,
                row.address.postcode,
                rfc3339(row.updated_at).as_str(),
            ])?;
        }
        writer.into_inner().map_err(|error| error.into_error())
    }

    fn sessions_jsonl(&self) -> io::Result<Vec<u8>> {
        let mut lines = Vec::new();
        for session in &self.sessions {
            let line = SessionLine {
                session_id: &session.session_id,
                cookie: &session.cookie,
                device_id: &session.device_id,
                ip: &session.ip,
                email: session.email.as_ref().map(Option::as_deref),
                started_at: rfc3339(session.started_at),
            };
            serde_json::to_writer(&mut lines, &line)?;
            lines.push(b'\n');
        }
        Ok(lines)
    }

    fn orders_csv(&self) -> io::Result<Vec<u8>> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(ORDERS_HEADER)?;
        for order in &self.orders {
            let amount = format!(
                "{}.{:02}",
                order.amount_cents / 100,
                order.amount_cents % 100
            );
            writer.write_record([
                order.order_id.as_str(),
                order.email.as_str(),
                order.phone.as_str(),
                amount.as_str(),
                format_utc(order.ordered_at, "%Y-%m-%d %H:%M:%S").as_str(),
                order.shipping_postcode,
            ])?;
        }
        writer.into_inner().map_err(|error| error.into_error())
    }

    fn truth_csv(&self) -> io::Result<Vec<u8>> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(["source", "key", "person_id"])?;
        let crm = self
            .crm
            .iter()
            .map(|row| ("crm", &row.customer_no, row.person));
        let web = self
            .sessions
            .iter()
            .map(|session| ("web", &session.session_id, session.person));
        let orders = self
            .orders
            .iter()
            .map(|order| ("orders", &order.order_id, order.person));
        for (source, key, person) in crm.chain(web).chain(orders) {
            writer.write_record([source, key.as_str(), self.people[person].id.as_str()])?;
        }
        writer.into_inner().map_err(|error| error.into_error())
    }
}

/// Formats seconds since the Unix epoch in RFC 3339, UTC: `2024-05-17T09:30:00Z`.
fn rfc3339(seconds: i64) -> String {
    format_utc(seconds, "%Y-%m-%dT%H:%M:%SZ")
}

/// Formats seconds since the Unix epoch in UTC with a strftime `format`.
fn format_utc(seconds: i64, format: &str) -> String {
    let timestamp = Timestamp::from_second(seconds).expect("sample times are within 1900-2100");
    timestamp.strftime(format).to_string()
}

/// Draws the people and the rows of every source from one random stream. `claimed` contains
/// every value that must stay unique across people (mailboxes, phones, national ids, device
/// ids, cookies, session ids), each with a prefix naming its kind.
struct Generator<'c> {
    random: Random,
    claimed: BTreeSet<String>,
    catalog: &'c Catalog,
}

impl Generator<'_> {
    /// Claims `value` in the namespace `kind`. Returns false when it was already claimed.
    fn claim(&mut self, kind: &str, value: &str) -> bool {
        self.claimed.insert(format!("{kind}:{value}"))
    }

    /// Generates [`PEOPLE`] people and their households. Some people move in with the person
    /// before them and share their surname, address and home IP.
    fn people(&mut self) -> (Vec<Person>, Vec<Vec<usize>>) {
        let mut people: Vec<Person> = Vec::with_capacity(PEOPLE);
        let mut households: Vec<Vec<usize>> = Vec::new();
        for index in 0..PEOPLE {
            let previous = index.checked_sub(1).map(|previous| &people[previous]);
            let joins = previous.is_some_and(|previous| {
                previous
                    .household
                    .is_none_or(|h| households[h].len() < MAX_HOUSEHOLD_SIZE)
            }) && self.random.chance(PERCENT_JOINS_HOUSEHOLD);
            let mut person = self.person(index, previous.filter(|_| joins));

            if joins {
                let household = match people[index - 1].household {
                    Some(household) => household,
                    None => {
                        households.push(vec![index - 1]);
                        people[index - 1].household = Some(households.len() - 1);
                        households.len() - 1
                    }
                };
                households[household].push(index);
                person.household = Some(household);
            }
            people.push(person);
        }
        self.assign_offices(&mut people);
        (people, households)
    }

    fn person(&mut self, index: usize, housemate: Option<&Person>) -> Person {
        let catalog = self.catalog;
        let first_name = *self.random.pick(&catalog.first_names);
        let (last_name, uk, address, home_ip) = match housemate {
            Some(housemate) => (
                housemate.last_name,
                housemate.uk,
                housemate.address.clone(),
                housemate.home_ip.clone(),
            ),
            None => {
                let uk = self.random.chance(PERCENT_UK);
                let address = self.address(uk);
                let home_ip = self.home_ip();
                (*self.random.pick(&catalog.surnames), uk, address, home_ip)
            }
        };
        let city = if uk {
            &catalog.london
        } else {
            catalog
                .us_cities
                .iter()
                .find(|city| city.name == address.city)
                .unwrap_or(&catalog.london)
        };
        let birth_day = self.random.between(BIRTH_DAYS.0, BIRTH_DAYS.1);
        Person {
            id: format!("P-{:04}", index + 1),
            first_name,
            last_name,
            email: self.email(first_name, last_name),
            phone: self.phone(city),
            national_id: self.national_id(uk),
            birth_date: format_utc(birth_day * SECONDS_PER_DAY, "%Y-%m-%d"),
            address,
            uk,
            household: None,
            in_crm: self.random.chance(PERCENT_IN_CRM),
            home_ip,
            office_ip: None,
        }
    }

    fn address(&mut self, uk: bool) -> Address {
        let catalog = self.catalog;
        let city = if uk {
            &catalog.london
        } else {
            self.random.pick(&catalog.us_cities)
        };
        let mut street = format!(
            "{} {}",
            1 + self.random.below(2_400),
            self.random.pick(&catalog.streets)
        );
        if self.random.chance(15) {
            street.push_str(&format!(", Apt {}", 1 + self.random.below(40)));
        }
        let postcode = *self.random.pick(&city.postcodes);
        Address {
            street,
            city: city.name,
            postcode,
        }
    }

    /// Returns an unused home IP address. About 15% of homes get one of the 508 addresses of the
    /// IPv4 documentation ranges 192.0.2.0/24 and 198.51.100.0/24, and the others, or all once
    /// those run short, an address of the IPv6 documentation prefix 2001:db8::/32.
    fn home_ip(&mut self) -> String {
        if self.random.chance(15) {
            for _ in 0..20 {
                let network = self.random.pick(&["192.0.2", "198.51.100"]);
                let ip = format!("{network}.{}", 1 + self.random.below(254));
                if self.claim("ip", &ip) {
                    return ip;
                }
            }
        }
        loop {
            let ip = self.ipv6();
            if self.claim("ip", &ip) {
                return ip;
            }
        }
    }

    fn ipv6(&mut self) -> String {
        format!(
            "2001:db8:{:x}:{:x}::{:x}",
            self.random.below(0x10000),
            self.random.below(0x10000),
            1 + self.random.below(0xfffe)
        )
    }

    /// Gives [`OFFICES`] office IP addresses in 203.0.113.0/24 to 8 to 15 people each.
    fn assign_offices(&mut self, people: &mut [Person]) {
        let mut workers: Vec<usize> = (0..people.len()).collect();
        self.random.shuffle(&mut workers);
        let mut workers = workers.into_iter();
        for office in 0..OFFICES {
            let ip = format!("203.0.113.{}", 10 * (office + 1));
            let staff = 8 + self.random.below(8);
            for worker in workers.by_ref().take(staff) {
                people[worker].office_ip = Some(ip.clone());
            }
        }
    }

    fn email(&mut self, first_name: &str, last_name: &str) -> Email {
        let first = ascii_letters(first_name);
        let last = ascii_letters(last_name);
        let initial = |name: &str| name.chars().take(1).collect::<String>();
        let gmail = self.random.chance(PERCENT_GMAIL);
        let domain = if gmail {
            "gmail.com"
        } else {
            *self.random.pick(&PERSONAL_DOMAINS)
        };

        // Gmail allows only letters, digits and dots in the local part.
        let (parts, separator) = match self.random.below(5) {
            0 => (vec![first.clone(), last.clone()], "."),
            1 => (vec![first.clone(), last.clone()], ""),
            2 => (vec![initial(&first), last.clone()], ""),
            3 => (vec![first.clone(), initial(&last)], "."),
            _ => (
                vec![last.clone(), first.clone()],
                if gmail { "." } else { "_" },
            ),
        };
        let mut email = Email {
            parts,
            separator,
            number: String::new(),
            domain,
        };
        while !self.claim("email", &email.mailbox()) {
            email.number = (1 + self.random.below(99)).to_string();
        }
        email
    }

    /// Returns a work email such as `ann.lee@bluefern-health.example`, unique like personal
    /// ones.
    fn work_email(&mut self, person: &Person) -> String {
        let domain = self.random.pick(&WORK_DOMAINS);
        let local = format!(
            "{}.{}",
            ascii_letters(person.first_name),
            ascii_letters(person.last_name)
        );
        let mut address = format!("{local}@{domain}");
        while !self.claim("email", &address) {
            address = format!("{local}{}@{domain}", 1 + self.random.below(99));
        }
        address
    }

    /// Returns an unused phone number. US people mostly keep an area code of their city, but
    /// some moved and kept their old number.
    fn phone(&mut self, city: &City) -> Phone {
        let catalog = self.catalog;
        if city.area_codes.is_empty() {
            loop {
                let line = self.random.below(1_000) as u16;
                if self.claim("phone", &format!("+44207946{line:04}")) {
                    return Phone::London { line };
                }
            }
        }
        loop {
            let codes = if self.random.chance(70) {
                &city.area_codes
            } else {
                &catalog.area_codes
            };
            let area = *self.random.pick(codes);
            let line = 100 + self.random.below(100) as u16;
            if self.claim("phone", &format!("+1{area}555{line:04}")) {
                return Phone::Us { area, line };
            }
        }
    }

    fn national_id(&mut self, uk: bool) -> String {
        loop {
            let id = if uk {
                let suffix = self.random.pick(&['A', 'B', 'C', 'D']);
                let digits = (
                    self.random.below(100),
                    self.random.below(100),
                    self.random.below(100),
                );
                format!(
                    "QQ {:02} {:02} {:02} {suffix}",
                    digits.0, digits.1, digits.2
                )
            } else {
                let area = self.random.below(100);
                let group = 1 + self.random.below(99);
                let serial = 1 + self.random.below(9_999);
                format!("9{area:02}-{group:02}-{serial:04}")
            };
            if self.claim("national_id", &compact(&id)) {
                return id;
            }
        }
    }

    /// Returns `id` with two adjacent, different digits swapped, as a clerk might type it.
    /// Falls back to a new national id in the unlikely case that no swap gives an unused id.
    fn mistyped_national_id(&mut self, id: &str) -> String {
        let chars: Vec<char> = id.chars().collect();
        let digits: Vec<usize> = (0..chars.len())
            .filter(|&i| chars[i].is_ascii_digit())
            .collect();
        for _ in 0..50 {
            let k = 1 + self.random.below(digits.len() - 2);
            let (a, b) = (digits[k], digits[k + 1]);
            if chars[a] == chars[b] {
                continue;
            }
            let mut typed = chars.clone();
            typed.swap(a, b);
            let typed: String = typed.into_iter().collect();
            if self.claim("national_id", &compact(&typed)) {
                return typed;
            }
        }
        self.national_id(false)
    }

    /// Builds the CRM rows: one per CRM customer, then the placeholder rows, the national id
    /// conflicts and the duplicate accounts, in a shuffled order with increasing customer
    /// numbers.
    fn crm_rows(&mut self, people: &[Person]) -> Vec<CrmRow> {
        let mut rows: Vec<CrmRow> = Vec::new();
        let mut row_of = vec![usize::MAX; people.len()];
        for (index, person) in people.iter().enumerate() {
            if person.in_crm {
                row_of[index] = rows.len();
                rows.push(self.crm_row(index, person));
            }
        }

        // The placeholder rows and the conflicts go to US customers who live alone, so that
        // no household or UK rule interferes with them. Five people take part in the
        // conflicts: two pairs that share an email, and one with a mistyped national id.
        let mut special: Vec<usize> = (0..people.len())
            .filter(|&i| people[i].in_crm && people[i].household.is_none() && !people[i].uk)
            .collect();
        self.random.shuffle(&mut special);
        special.truncate(PLACEHOLDER_ROWS + 5);
        let (placeholder_people, conflict_people) = special.split_at(PLACEHOLDER_ROWS);

        for (k, &person) in placeholder_people.iter().enumerate() {
            let row = &mut rows[row_of[person]];
            row.email = PLACEHOLDER_EMAILS[k % 4].to_owned();
            row.phone = PLACEHOLDER_PHONES[(k + 1) % 4].to_owned();
            row.national_id = PLACEHOLDER_NATIONAL_IDS[(k + 2) % 4].to_owned();
        }

        // Two clerks typed one customer's email into another customer's row.
        for pair in conflict_people[..4].chunks(2) {
            let (owner, other) = (pair[0], pair[1]);
            rows[row_of[owner]].email = people[owner].email.address();
            rows[row_of[owner]].national_id = people[owner].national_id.clone();
            rows[row_of[other]].email = people[owner].email.address();
            rows[row_of[other]].national_id = people[other].national_id.clone();
        }

        // One customer opened a second account with two digits of the national id swapped.
        let mistyped = conflict_people[4];
        rows[row_of[mistyped]].national_id = people[mistyped].national_id.clone();
        let mut duplicates = vec![self.duplicate_row(&mut rows[row_of[mistyped]], people, true)];
        let mistyped_id = self.mistyped_national_id(&people[mistyped].national_id);
        duplicates[0].national_id = mistyped_id;

        for person in (0..people.len()).filter(|&i| people[i].in_crm && !special.contains(&i)) {
            if self.random.chance(PERCENT_DUPLICATE_ACCOUNT) {
                let by_email = self.random.chance(50);
                duplicates.push(self.duplicate_row(&mut rows[row_of[person]], people, by_email));
            }
        }
        rows.extend(duplicates);

        self.random.shuffle(&mut rows);
        let mut number = 100;
        for row in &mut rows {
            number += 1 + self.random.below(3);
            row.customer_no = format!("C-{number:06}");
        }
        rows
    }

    fn crm_row(&mut self, index: usize, person: &Person) -> CrmRow {
        let email = if self.random.chance(96) {
            person.email.address()
        } else {
            String::new()
        };
        let phone = if self.random.chance(90) {
            person.phone.spell(self.random.below(2))
        } else {
            String::new()
        };
        let national_id = if self.random.chance(90) {
            person.national_id.clone()
        } else {
            String::new()
        };
        CrmRow {
            person: index,
            customer_no: String::new(),
            first_name: person.first_name.to_owned(),
            last_name: person.last_name.to_owned(),
            email,
            phone,
            national_id,
            address: person.address.clone(),
            updated_at: self
                .random
                .between(CRM_START + SECONDS_PER_DAY, ACTIVITY_END),
        }
    }

    /// Builds an older second account of the person of `primary`. It shares the email when
    /// `by_email` is set, and the national id otherwise. That value is filled in on `primary`
    /// too in case the primary row lacked it. One of the names is spelled differently.
    fn duplicate_row(&mut self, primary: &mut CrmRow, people: &[Person], by_email: bool) -> CrmRow {
        let person = &people[primary.person];
        let mut row = primary.clone();
        if self.random.chance(50) {
            row.first_name = self.misspell(person.first_name);
        } else {
            row.last_name = self.misspell(person.last_name);
        }

        if by_email {
            primary.email = person.email.address();
            row.email = if self.random.chance(20) {
                primary.email.to_uppercase()
            } else {
                primary.email.clone()
            };
            row.national_id = String::new();
        } else {
            primary.national_id = person.national_id.clone();
            row.national_id = compact(&person.national_id);
            row.email = if self.random.chance(60) {
                self.work_email(person)
            } else {
                String::new()
            };
        }

        row.phone = if self.random.chance(50) {
            person.phone.spell(self.random.below(US_PHONE_STYLES))
        } else {
            String::new()
        };
        // Some customers moved since they opened the old account.
        if self.random.chance(30) {
            row.address = self.address(person.uk);
        }
        row.updated_at = self.random.between(CRM_START, primary.updated_at);
        row
    }

    /// Returns `name` spelled the way a second account might have it: without accents, with
    /// `ü` written `ue`, with a typo, or in capitals. The result always differs from `name`.
    fn misspell(&mut self, name: &str) -> String {
        let without_accents = fold_accents(name);
        if without_accents != name && self.random.chance(70) {
            let transliterated = transliterate_umlauts(name);
            if transliterated != name && self.random.chance(50) {
                return transliterated;
            }
            return without_accents;
        }

        let mut chars: Vec<char> = name.chars().collect();
        if chars.len() < 4 {
            return name.to_uppercase();
        }
        let i = 1 + self.random.below(chars.len() - 2);
        match self.random.below(3) {
            0 if chars[i] != chars[i + 1] => chars.swap(i, i + 1),
            1 => {
                chars.remove(i);
            }
            _ => chars.insert(i, chars[i]),
        }
        chars.into_iter().collect()
    }

    /// Builds the web sessions, sorted by start time: each person's own sessions, the family
    /// tablets and the library computers.
    fn sessions(&mut self, people: &[Person], households: &[Vec<usize>]) -> Vec<Session> {
        let mut sessions = Vec::new();
        for (index, person) in people.iter().enumerate() {
            let count = self.random.weighted(&SESSIONS_PER_PERSON);
            if count == 0 {
                continue;
            }
            let device_count = 1 + usize::from(self.random.chance(35));
            let mut devices: Vec<Device> = (0..device_count).map(|_| self.device()).collect();
            for _ in 0..count {
                let device = self.random.below(devices.len());
                // The browser's cookies were cleared, and it keeps the new cookie from now on.
                if self.random.chance(10) {
                    devices[device].cookie = self.unique_id("cookie", 32);
                }
                let (ip, started_at) = self.session_origin(person);
                let email = self.session_email(&person.email, 35);
                sessions.push(Session {
                    person: index,
                    session_id: self.unique_id("session", 16),
                    cookie: devices[device].cookie.clone(),
                    device_id: devices[device].id.clone(),
                    ip,
                    email,
                    started_at,
                });
            }
        }

        // A family tablet keeps one browser profile, so its members share device and cookie.
        let mut families: Vec<&Vec<usize>> = households.iter().filter(|h| h.len() >= 2).collect();
        self.random.shuffle(&mut families);
        for family in families.into_iter().take(FAMILY_TABLETS) {
            let tablet = self.device();
            for &member in family {
                for _ in 0..1 + self.random.below(2) {
                    let started_at = self.activity_time(false);
                    let email = self.session_email(&people[member].email, 50);
                    sessions.push(Session {
                        person: member,
                        session_id: self.unique_id("session", 16),
                        cookie: tablet.cookie.clone(),
                        device_id: tablet.id.clone(),
                        ip: people[member].home_ip.clone(),
                        email,
                        started_at,
                    });
                }
            }
        }

        // A library computer clears its cookies after every visitor.
        let mut visitors: Vec<usize> = (0..people.len())
            .filter(|&i| people[i].household.is_none())
            .collect();
        self.random.shuffle(&mut visitors);
        let mut visitors = visitors.into_iter();
        for library in 0..LIBRARY_COMPUTERS {
            let computer = self.unique_id("device", 0);
            let ip = format!("203.0.113.{}", 200 + library);
            let count = 6 + self.random.below(3);
            for visitor in visitors.by_ref().take(count) {
                let started_at = self.activity_time(true);
                let email = self.session_email(&people[visitor].email, 60);
                sessions.push(Session {
                    person: visitor,
                    session_id: self.unique_id("session", 16),
                    cookie: self.unique_id("cookie", 32),
                    device_id: computer.clone(),
                    ip: ip.clone(),
                    email,
                    started_at,
                });
            }
        }

        sessions.sort_by(|a, b| (a.started_at, &a.session_id).cmp(&(b.started_at, &b.session_id)));
        sessions
    }

    /// Returns an unused random id of `kind`: a UUID when `hex_digits` is 0, otherwise that
    /// many hex digits.
    fn unique_id(&mut self, kind: &str, hex_digits: usize) -> String {
        loop {
            let id = if hex_digits == 0 {
                self.random.uuid()
            } else {
                self.random.hex(hex_digits)
            };
            if self.claim(kind, &id) {
                return id;
            }
        }
    }

    fn device(&mut self) -> Device {
        Device {
            id: self.unique_id("device", 0),
            cookie: self.unique_id("cookie", 32),
        }
    }

    /// Returns a time between [`ACTIVITY_START`] and [`ACTIVITY_END`], within 09:00 to 17:00
    /// UTC when `office_hours` is set.
    fn activity_time(&mut self, office_hours: bool) -> i64 {
        let day = self.random.between(
            ACTIVITY_START / SECONDS_PER_DAY,
            ACTIVITY_END / SECONDS_PER_DAY,
        );
        let time_of_day = if office_hours {
            self.random
                .between(9 * SECONDS_PER_HOUR, 17 * SECONDS_PER_HOUR)
        } else {
            self.random.between(0, SECONDS_PER_DAY)
        };
        day * SECONDS_PER_DAY + time_of_day
    }

    /// Returns the IP address and start time of one of the person's own sessions: from the
    /// office in office hours, from a mobile network, or from home.
    fn session_origin(&mut self, person: &Person) -> (String, i64) {
        if let Some(office_ip) = &person.office_ip {
            if self.random.chance(40) {
                return (office_ip.clone(), self.activity_time(true));
            }
        }
        let started_at = self.activity_time(false);
        if self.random.chance(15) {
            return (self.ipv6(), started_at);
        }
        (person.home_ip.clone(), started_at)
    }

    /// Returns the email field of a session: the address when the visitor logged in, which
    /// happens with the chance `percent_logged_in`, and otherwise `null` or no field.
    fn session_email(&mut self, email: &Email, percent_logged_in: u32) -> Option<Option<String>> {
        if self.random.chance(percent_logged_in) {
            Some(Some(email.address()))
        } else if self.random.chance(50) {
            Some(None)
        } else {
            None
        }
    }

    /// Builds the orders, sorted by time with increasing order ids, including the orders
    /// placed with the support mailbox and a few with placeholder contact details.
    fn orders(&mut self, people: &[Person]) -> Vec<Order> {
        let catalog = self.catalog;
        let mut orders = Vec::new();
        for (index, person) in people.iter().enumerate() {
            for _ in 0..self.random.weighted(&ORDERS_PER_PERSON) {
                // The checkout form needs an email or a phone, and guests may leave out one.
                let email = if self.random.chance(5) {
                    String::new()
                } else {
                    self.order_email(&person.email)
                };
                let phone = if !email.is_empty() && self.random.chance(25) {
                    String::new()
                } else {
                    person.phone.spell(self.random.below(US_PHONE_STYLES))
                };
                // One order in ten is a gift sent to another city.
                let shipping_postcode = if self.random.chance(90) {
                    person.address.postcode
                } else {
                    let city = self.random.pick(&catalog.us_cities);
                    *self.random.pick(&city.postcodes)
                };
                let amount_cents = if self.random.chance(70) {
                    1_500 + self.random.below(10_500)
                } else {
                    12_000 + self.random.below(33_000)
                };
                orders.push(Order {
                    person: index,
                    order_id: String::new(),
                    email,
                    phone,
                    amount_cents: amount_cents as u32,
                    ordered_at: self.activity_time(false),
                    shipping_postcode,
                });
            }
        }

        // Agents use the support mailbox for customers who live alone, so that the people it
        // joins are unrelated.
        let mut customers: Vec<usize> = orders.iter().map(|order| order.person).collect();
        customers.dedup();
        customers.retain(|&person| people[person].household.is_none());
        self.random.shuffle(&mut customers);
        for (k, &person) in customers.iter().take(SUPPORT_ORDERS).enumerate() {
            if let Some(order) = orders.iter_mut().find(|order| order.person == person) {
                order.email = SUPPORT_SPELLINGS[k % SUPPORT_SPELLINGS.len()].to_owned();
            }
        }
        let placeholder_customers = customers
            .iter()
            .skip(SUPPORT_ORDERS)
            .take(PLACEHOLDER_ORDERS);
        for (k, &person) in placeholder_customers.enumerate() {
            if let Some(order) = orders.iter_mut().find(|order| order.person == person) {
                order.email = ["none@none.example", "n/a", "unknown"][k % 3].to_owned();
                order.phone = ["0000000000", "n/a"][k % 2].to_owned();
            }
        }

        orders.sort_by_key(|order| order.ordered_at);
        for (k, order) in orders.iter_mut().enumerate() {
            order.order_id = format!("O-{}", 1_000_001 + k);
        }
        orders
    }

    /// Returns how an order form might carry the person's email: as is, in capitals, with
    /// surrounding spaces, or for Gmail with other dots, a `+tag` or `googlemail.com`.
    fn order_email(&mut self, email: &Email) -> String {
        if email.is_gmail() && self.random.chance(40) {
            return self.gmail_spelling(email);
        }
        let address = email.address();
        match self.random.below(10) {
            0 => address.to_uppercase(),
            1 => {
                let parts: Vec<String> = email.parts.iter().map(|part| capitalize(part)).collect();
                format!(
                    "{}{}@{}",
                    parts.join(email.separator),
                    email.number,
                    email.domain
                )
            }
            2 => format!("  {address} "),
            _ => address,
        }
    }

    fn gmail_spelling(&mut self, email: &Email) -> String {
        let capitalized = self.random.chance(40);
        let parts: Vec<String> = email
            .parts
            .iter()
            .map(|part| {
                if capitalized {
                    capitalize(part)
                } else {
                    part.clone()
                }
            })
            .collect();
        let separator = if self.random.chance(50) { "." } else { "" };
        let tag = if self.random.chance(50) {
            format!("+{}", self.random.pick(&GMAIL_TAGS))
        } else {
            String::new()
        };
        let domain = if self.random.chance(10) {
            "googlemail.com"
        } else {
            "gmail.com"
        };
        format!("{}{}{tag}@{domain}", parts.join(separator), email.number)
    }
}

/// Returns the ASCII letters of `name` without accents, lowercased: `José` gives `jose`,
/// `O'Brien` gives `obrien`.
fn ascii_letters(name: &str) -> String {
    fold_accents(name)
        .chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Removes the accents of `name`: `Zoë` gives `Zoe`, `Ødegaard` gives `Odegaard`. Combining
/// marks go after canonical decomposition, and letters that do not decompose, such as `ø` and
/// `ł`, are replaced.
fn fold_accents(name: &str) -> String {
    let mut folded = String::with_capacity(name.len());
    for c in name.nfd().filter(|&c| !is_combining_mark(c)) {
        match c {
            'ø' => folded.push('o'),
            'Ø' => folded.push('O'),
            'ł' => folded.push('l'),
            'Ł' => folded.push('L'),
            'ı' => folded.push('i'),
            'æ' => folded.push_str("ae"),
            'ß' => folded.push_str("ss"),
            _ => folded.push(c),
        }
    }
    folded
}

/// Writes the umlauts and `ø` of `name` the German and Scandinavian way without accents:
/// `Müller` gives `Mueller`, `Ødegaard` gives `Oedegaard`. Other letters stay.
fn transliterate_umlauts(name: &str) -> String {
    let mut transliterated = String::with_capacity(name.len() + 2);
    for c in name.chars() {
        match c {
            'ä' => transliterated.push_str("ae"),
            'ö' | 'ø' => transliterated.push_str("oe"),
            'ü' => transliterated.push_str("ue"),
            'Ä' => transliterated.push_str("Ae"),
            'Ö' | 'Ø' => transliterated.push_str("Oe"),
            'Ü' => transliterated.push_str("Ue"),
            'å' => transliterated.push_str("aa"),
            'Å' => transliterated.push_str("Aa"),
            _ => transliterated.push(c),
        }
    }
    transliterated
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Removes the spaces and dashes of a national id.
fn compact(id: &str) -> String {
    id.chars().filter(|&c| c != ' ' && c != '-').collect()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::time::Instant;

    use super::*;
    use crate::ingest::Mapping;

    /// Writes the sample of `seed` into a new temporary directory.
    fn sample(seed: u64) -> (tempfile::TempDir, Vec<DemoSource>) {
        let dir = tempfile::tempdir().unwrap();
        let sources = write_sample(dir.path(), seed).unwrap();
        (dir, sources)
    }

    /// Reads a CSV file as its header and rows, keeping fields untrimmed.
    fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(path)
            .unwrap();
        let header = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        let rows = reader
            .records()
            .map(|record| record.unwrap().iter().map(str::to_owned).collect())
            .collect();
        (header, rows)
    }

    fn column(header: &[String], name: &str) -> usize {
        header.iter().position(|column| column == name).unwrap()
    }

    fn read_sessions(path: &Path) -> Vec<serde_json::Map<String, serde_json::Value>> {
        let text = std::fs::read_to_string(path).unwrap();
        text.lines()
            .map(|line| match serde_json::from_str(line) {
                Ok(serde_json::Value::Object(object)) => object,
                other => panic!("line {line:?} is not a JSON object: {other:?}"),
            })
            .collect()
    }

    /// Returns the ground truth: person id by (source, key).
    fn read_truth(dir: &Path) -> BTreeMap<(String, String), String> {
        let (_, rows) = read_csv(&dir.join(TRUTH_FILE));
        rows.into_iter()
            .map(|row| ((row[0].clone(), row[1].clone()), row[2].clone()))
            .collect()
    }

    fn file_names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn same_seed_same_bytes() {
        let (first, _) = sample(DEFAULT_SEED);
        let (second, _) = sample(DEFAULT_SEED);
        let names = file_names(first.path());
        assert_eq!(
            names,
            ["crm.csv", "orders.csv", "people.csv", "web_sessions.jsonl"]
        );
        assert_eq!(names, file_names(second.path()));
        for name in names {
            let a = std::fs::read(first.path().join(&name)).unwrap();
            let b = std::fs::read(second.path().join(&name)).unwrap();
            assert!(a == b, "{name} differs between two runs with the same seed");
        }
    }

    #[test]
    fn other_seed_other_files() {
        let (first, _) = sample(DEFAULT_SEED);
        let (second, _) = sample(DEFAULT_SEED + 1);
        for name in [CRM_FILE, WEB_FILE, ORDERS_FILE, TRUTH_FILE] {
            let a = std::fs::read(first.path().join(name)).unwrap();
            let b = std::fs::read(second.path().join(name)).unwrap();
            assert!(a != b, "{name} is the same for two seeds");
        }
    }

    #[test]
    fn sources_in_ingest_order() {
        let (dir, sources) = sample(DEFAULT_SEED);
        let names: Vec<&str> = sources.iter().map(|source| source.name.as_str()).collect();
        assert_eq!(names, ["crm", "web", "orders"]);
        for source in &sources {
            assert!(source.path.starts_with(dir.path()));
            assert!(
                source.path.is_file(),
                "{} is missing",
                source.path.display()
            );
        }
    }

    #[test]
    fn missing_directory_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a").join("b");
        write_sample(&nested, 1).unwrap();
        assert!(nested.join(CRM_FILE).is_file());
        assert!(nested.join(TRUTH_FILE).is_file());
    }

    #[test]
    fn row_counts_in_range() {
        for seed in [DEFAULT_SEED, 1, 2] {
            let (dir, _) = sample(seed);
            let crm = read_csv(&dir.path().join(CRM_FILE)).1.len();
            let web = read_sessions(&dir.path().join(WEB_FILE)).len();
            let orders = read_csv(&dir.path().join(ORDERS_FILE)).1.len();
            assert!(
                (1_800..=2_300).contains(&crm),
                "seed {seed}: {crm} CRM rows"
            );
            assert!(
                (2_500..=3_700).contains(&web),
                "seed {seed}: {web} sessions"
            );
            assert!(
                (1_900..=2_900).contains(&orders),
                "seed {seed}: {orders} orders"
            );
            let total = crm + web + orders;
            assert!(
                (6_000..=8_000).contains(&total),
                "seed {seed}: {total} rows in all"
            );
        }
    }

    #[test]
    fn csv_rows_match_header() {
        let (dir, _) = sample(DEFAULT_SEED);
        for name in [CRM_FILE, ORDERS_FILE, TRUTH_FILE] {
            let (header, rows) = read_csv(&dir.path().join(name));
            for (index, row) in rows.iter().enumerate() {
                assert_eq!(row.len(), header.len(), "{name} row {}: {row:?}", index + 2);
            }
        }
        let (crm_header, _) = read_csv(&dir.path().join(CRM_FILE));
        assert_eq!(crm_header, CRM_HEADER);
        let (orders_header, _) = read_csv(&dir.path().join(ORDERS_FILE));
        assert_eq!(orders_header, ORDERS_HEADER);
    }

    #[test]
    fn jsonl_lines_parse() {
        let (dir, _) = sample(DEFAULT_SEED);
        let sessions = read_sessions(&dir.path().join(WEB_FILE));
        for session in &sessions {
            for field in ["session_id", "cookie", "device_id", "ip", "started_at"] {
                assert!(session[field].is_string(), "{field} missing in {session:?}");
            }
            if let Some(email) = session.get("email") {
                assert!(email.is_string() || email.is_null(), "{session:?}");
            }
        }
        let null = sessions
            .iter()
            .filter(|s| s.get("email").is_some_and(|e| e.is_null()));
        assert!(null.count() > 0, "no session has email null");
        let absent = sessions.iter().filter(|s| !s.contains_key("email"));
        assert!(absent.count() > 0, "every session has an email field");
    }

    #[test]
    fn keys_unique_and_in_truth() {
        let (dir, _) = sample(DEFAULT_SEED);
        let truth = read_truth(dir.path());
        let mut keys: Vec<(String, String)> = Vec::new();
        let (header, crm) = read_csv(&dir.path().join(CRM_FILE));
        let key = column(&header, "customer_no");
        keys.extend(crm.iter().map(|row| ("crm".to_owned(), row[key].clone())));
        for session in read_sessions(&dir.path().join(WEB_FILE)) {
            let key = session["session_id"].as_str().unwrap().to_owned();
            keys.push(("web".to_owned(), key));
        }
        let (header, orders) = read_csv(&dir.path().join(ORDERS_FILE));
        let key = column(&header, "order_id");
        keys.extend(
            orders
                .iter()
                .map(|row| ("orders".to_owned(), row[key].clone())),
        );

        let unique: BTreeSet<&(String, String)> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len(), "duplicate record keys");
        assert_eq!(
            truth.len(),
            keys.len(),
            "people.csv has not one row per record"
        );
        for key in &keys {
            assert!(truth.contains_key(key), "{key:?} is not in people.csv");
        }
        let people: BTreeSet<&String> = truth.values().collect();
        assert!(
            people.len() > 1_800,
            "only {} people have records",
            people.len()
        );
    }

    #[test]
    fn support_mailbox_spans_people() {
        let (dir, _) = sample(DEFAULT_SEED);
        let truth = read_truth(dir.path());
        let (header, orders) = read_csv(&dir.path().join(ORDERS_FILE));
        let (key, email) = (column(&header, "order_id"), column(&header, "email"));
        let people: BTreeSet<&String> = orders
            .iter()
            .filter(|row| row[email].trim().eq_ignore_ascii_case(SUPPORT_MAILBOX))
            .map(|row| &truth[&("orders".to_owned(), row[key].clone())])
            .collect();
        assert!(
            people.len() >= 3,
            "support mailbox used for {} people",
            people.len()
        );
    }

    #[test]
    fn shared_device_spans_people() {
        let (dir, _) = sample(DEFAULT_SEED);
        let truth = read_truth(dir.path());
        let mut people_by_device: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for session in read_sessions(&dir.path().join(WEB_FILE)) {
            let key = (
                "web".to_owned(),
                session["session_id"].as_str().unwrap().to_owned(),
            );
            let device = session["device_id"].as_str().unwrap().to_owned();
            people_by_device
                .entry(device)
                .or_default()
                .insert(truth[&key].clone());
        }
        let shared = people_by_device
            .values()
            .filter(|people| people.len() >= 2)
            .count();
        assert!(shared >= FAMILY_TABLETS, "only {shared} devices are shared");
        let largest = people_by_device.values().map(BTreeSet::len).max().unwrap();
        assert!(
            largest >= 6,
            "no library computer: at most {largest} people per device"
        );
    }

    #[test]
    fn phones_valid_for_us() {
        let (dir, _) = sample(DEFAULT_SEED);
        let mut checked = 0;
        for name in [CRM_FILE, ORDERS_FILE] {
            let (header, rows) = read_csv(&dir.path().join(name));
            let phone = column(&header, "phone");
            for row in &rows {
                let text = row[phone].as_str();
                if PLACEHOLDER_PHONES.contains(&text) {
                    continue;
                }
                let parsed = phonenumber::parse(Some(phonenumber::country::Id::US), text);
                let valid = parsed
                    .as_ref()
                    .is_ok_and(phonenumber::PhoneNumber::is_valid);
                assert!(valid, "{name}: {text:?} is not a valid phone: {parsed:?}");
                checked += 1;
            }
        }
        assert!(checked > 3_000, "only {checked} phones checked");
    }

    #[test]
    fn every_area_code_valid() {
        for area in Catalog::new().area_codes {
            for line in [100, 199] {
                let phone = Phone::Us { area, line };
                for style in 0..US_PHONE_STYLES {
                    let text = phone.spell(style);
                    let parsed = phonenumber::parse(Some(phonenumber::country::Id::US), &text);
                    assert!(parsed.is_ok_and(|number| number.is_valid()), "{text}");
                }
            }
        }
    }

    #[test]
    fn placeholders_recur_in_crm() {
        let (dir, _) = sample(DEFAULT_SEED);
        let (header, rows) = read_csv(&dir.path().join(CRM_FILE));
        let (email, phone) = (column(&header, "email"), column(&header, "phone"));
        let national_id = column(&header, "national_id");
        for (placeholder, column) in [
            ("none@none.example", email),
            ("unknown", email),
            ("0000000000", phone),
            ("000-00-0000", national_id),
        ] {
            let count = rows.iter().filter(|row| row[column] == placeholder).count();
            assert!(count >= 2, "{placeholder} appears in {count} rows");
        }
    }

    #[test]
    fn national_id_conflicts_present() {
        let (dir, _) = sample(DEFAULT_SEED);
        let truth = read_truth(dir.path());
        let (header, rows) = read_csv(&dir.path().join(CRM_FILE));
        let (key, email) = (column(&header, "customer_no"), column(&header, "email"));
        let national_id = column(&header, "national_id");

        // The people and national ids of the CRM rows of each email, lowercased.
        let mut people_by_email: BTreeMap<String, BTreeSet<&String>> = BTreeMap::new();
        let mut ids_by_email: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for row in &rows {
            if !row[email].contains('@') || row[national_id].is_empty() {
                continue;
            }
            let address = row[email].to_lowercase();
            let person = &truth[&("crm".to_owned(), row[key].clone())];
            people_by_email
                .entry(address.clone())
                .or_default()
                .insert(person);
            ids_by_email
                .entry(address)
                .or_default()
                .insert(compact(&row[national_id]));
        }

        let conflicts: Vec<&String> = ids_by_email
            .iter()
            .filter(|(_, ids)| ids.len() >= 2)
            .map(|(address, _)| address)
            .collect();
        let reused = conflicts
            .iter()
            .filter(|address| people_by_email[**address].len() >= 2);
        let reused = reused.count();
        assert!(
            conflicts.len() >= 3,
            "{} national id conflicts",
            conflicts.len()
        );
        assert!(reused >= 2, "{reused} emails reused across people");
    }

    #[test]
    fn duplicate_accounts_present() {
        let (dir, _) = sample(DEFAULT_SEED);
        let truth = read_truth(dir.path());
        let mut rows_per_person: BTreeMap<&String, usize> = BTreeMap::new();
        for ((source, _), person) in &truth {
            if source == "crm" {
                *rows_per_person.entry(person).or_default() += 1;
            }
        }
        let duplicated = rows_per_person
            .values()
            .filter(|&&count| count == 2)
            .count();
        assert!(
            (80..=250).contains(&duplicated),
            "{duplicated} people have two CRM rows"
        );
        assert!(rows_per_person.values().all(|&count| count <= 2));
    }

    #[test]
    fn mappings_parse_and_match_files() {
        let (_dir, sources) = sample(DEFAULT_SEED);
        for source in &sources {
            let mapping: Mapping = toml::from_str(&source.mapping_toml).unwrap();
            mapping.validate().unwrap();
            assert_eq!(mapping.source, source.name);
            if source
                .path
                .extension()
                .is_some_and(|extension| extension == "csv")
            {
                let (header, _) = read_csv(&source.path);
                mapping.check_columns(&header, &source.path).unwrap();
            } else {
                for session in read_sessions(&source.path) {
                    assert!(session.contains_key(&mapping.key));
                    assert!(session.contains_key(mapping.timestamp.as_deref().unwrap()));
                }
            }
        }
    }

    #[test]
    fn gmail_spellings_vary() {
        let (dir, _) = sample(DEFAULT_SEED);
        let (header, rows) = read_csv(&dir.path().join(ORDERS_FILE));
        let email = column(&header, "email");
        let emails: Vec<&str> = rows.iter().map(|row| row[email].as_str()).collect();
        assert!(
            emails
                .iter()
                .any(|e| e.contains('+') && e.ends_with("@gmail.com"))
        );
        assert!(emails.iter().any(|e| e.ends_with("@googlemail.com")));
        assert!(emails.iter().any(|e| e.starts_with(' ')));
        assert!(
            emails
                .iter()
                .any(|e| e.chars().any(|c| c.is_ascii_uppercase()))
        );
    }

    #[test]
    fn name_lists_sized_and_unique() {
        let catalog = Catalog::new();
        for (list, names) in [
            ("first", &catalog.first_names),
            ("surname", &catalog.surnames),
        ] {
            let unique: BTreeSet<&&str> = names.iter().collect();
            assert_eq!(unique.len(), names.len(), "{list} names repeat");
            assert!(
                (190..=230).contains(&names.len()),
                "{} {list} names",
                names.len()
            );
        }
        for name in ["José", "Zoë", "Müller", "Ødegaard"] {
            let known = catalog.first_names.contains(&name) || catalog.surnames.contains(&name);
            assert!(known, "{name} is missing");
        }
        assert_eq!(catalog.us_cities.len(), 30);
        assert!(
            catalog
                .us_cities
                .iter()
                .all(|city| city.postcodes.len() == 3)
        );
        assert_eq!(catalog.london.postcodes.len(), 8);
    }

    #[test]
    fn name_spelling_helpers() {
        assert_eq!(fold_accents("Ødegaard"), "Odegaard");
        assert_eq!(fold_accents("Zoë"), "Zoe");
        assert_eq!(transliterate_umlauts("Müller"), "Mueller");
        assert_eq!(ascii_letters("O'Brien"), "obrien");
        assert_eq!(ascii_letters("Wiśniewski"), "wisniewski");
        let mut generator = Generator {
            random: Random(ChaCha8Rng::seed_from_u64(3)),
            claimed: BTreeSet::new(),
            catalog: &Catalog::new(),
        };
        for name in ["Lee", "José", "Anna", "Müller", "Ødegaard", "Li"] {
            for _ in 0..20 {
                assert_ne!(generator.misspell(name), name);
            }
        }
    }

    #[test]
    fn generation_is_fast() {
        let start = Instant::now();
        let sample = Sample::generate(DEFAULT_SEED);
        let elapsed = start.elapsed();
        assert_eq!(sample.people.len(), PEOPLE);
        // NOTE: a loose bound, because debug builds on a loaded CI machine are slow.
        assert!(elapsed.as_secs_f64() < 2.0, "generation took {elapsed:?}");
    }
}
