//! Word pools for people, companies, campaigns and free-text answers, so generated rows
//! read like a real CRM export rather than `lead-17`.

use entity::Channel;
use rand::{Rng, seq::IndexedRandom};

pub(super) const FIRST_NAMES: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Sandra",
    "Mark",
    "Ashley",
    "Steven",
    "Emily",
    "Andrew",
    "Michelle",
    "Joshua",
    "Amanda",
    "Kevin",
    "Melissa",
    "Brian",
    "Stephanie",
    "George",
    "Rebecca",
    "Priya",
    "Arjun",
    "Wei",
    "Mei",
    "Hiroshi",
    "Yuki",
    "Lukas",
    "Sofia",
    "Mateo",
    "Camila",
    "Omar",
    "Fatima",
    "Noah",
    "Olivia",
    "Liam",
    "Emma",
    "Elena",
    "Ivan",
    "Chloe",
    "Lucas",
    "Aisha",
    "Kwame",
    "Ingrid",
    "Lars",
    "Amara",
    "Diego",
    "Nora",
    "Felix",
    "Hannah",
    "Mohammed",
];

pub(super) const LAST_NAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Patel",
    "Shah",
    "Chen",
    "Wang",
    "Kim",
    "Tanaka",
    "Sato",
    "Müller",
    "Schmidt",
    "Rossi",
    "Novak",
    "Kowalski",
    "Okafor",
    "Mensah",
    "Haddad",
    "Larsen",
    "Andersson",
    "Silva",
    "Costa",
    "O'Brien",
];

pub(super) const TITLES: &[&str] = &[
    "VP of Sales",
    "Head of Revenue Operations",
    "Sales Operations Manager",
    "Chief Revenue Officer",
    "Director of Marketing",
    "Marketing Operations Manager",
    "Demand Generation Lead",
    "CMO",
    "Head of Growth",
    "CFO",
    "Finance Manager",
    "CTO",
    "Engineering Manager",
    "IT Director",
    "Operations Manager",
    "COO",
    "Founder & CEO",
    "Customer Success Lead",
    "Business Analyst",
    "Procurement Manager",
];

pub(super) const INDUSTRIES: &[&str] = &[
    "Software",
    "Financial Services",
    "Healthcare",
    "Manufacturing",
    "Retail",
    "Logistics",
    "Education",
    "Media",
    "Telecommunications",
    "Energy",
    "Professional Services",
    "Real Estate",
    "Hospitality",
    "Insurance",
    "Biotech",
];

const COMPANY_FIRST: &[&str] = &[
    "Blue",
    "North",
    "Silver",
    "Bright",
    "Iron",
    "Summit",
    "Harbor",
    "Cedar",
    "Granite",
    "Atlas",
    "Vertex",
    "Nimbus",
    "Pioneer",
    "Crescent",
    "Evergreen",
    "Falcon",
    "Lumen",
    "Orbit",
    "Quantum",
    "Redwood",
    "Sterling",
    "True",
    "Union",
    "Vantage",
    "Willow",
    "Apex",
    "Beacon",
    "Cobalt",
    "Delta",
    "Ember",
];

const COMPANY_SECOND: &[&str] = &[
    "Ridge", "Field", "Point", "Bay", "Stone", "Peak", "Gate", "Bridge", "Line", "Wave", "Works", "Path", "Labs",
    "Forge", "Grove", "Light", "Mark", "Shore", "Crest", "Trail",
];

const COMPANY_SUFFIX: &[&str] = &[
    "Logistics",
    "Analytics",
    "Health",
    "Capital",
    "Systems",
    "Software",
    "Foods",
    "Energy",
    "Media",
    "Robotics",
    "Insurance",
    "Partners",
    "Retail",
    "Networks",
    "Bio",
    "Learning",
    "Freight",
    "Security",
];

/// A plausible company name and the lower-case slug its domain is built from.
pub(super) fn company(rng: &mut impl Rng) -> (String, String) {
    let first = pick(rng, COMPANY_FIRST);
    let second = pick(rng, COMPANY_SECOND);
    let suffix = pick(rng, COMPANY_SUFFIX);
    let name = format!("{first}{} {suffix}", second.to_lowercase());
    let slug = format!("{first}{second}{suffix}").to_lowercase();
    (name, slug)
}

/// The local part of an e-mail address for a person: ASCII, lower case, dot separated.
pub(super) fn email_local(first: &str, last: &str) -> String {
    let mut local = String::with_capacity(first.len() + last.len() + 1);
    for (i, part) in [first, last].into_iter().enumerate() {
        if i > 0 {
            local.push('.');
        }
        for c in part.chars() {
            match c {
                'a'..='z' | '0'..='9' => local.push(c),
                'A'..='Z' => local.push(c.to_ascii_lowercase()),
                'ü' | 'Ü' => local.push_str("ue"),
                // Apostrophes, spaces and other marks are dropped, as mail systems do.
                _ => {}
            }
        }
    }
    local
}

/// Campaign names per channel; `seed` cycles through them, `load_demo` takes the first.
pub(super) fn campaign_names(channel: Channel) -> &'static [&'static str] {
    match channel {
        Channel::PaidSearch => &[
            "Google Ads — Brand",
            "Google Ads — Competitor terms",
            "Bing Ads — Lead routing",
            "Google Ads — Speed-to-lead",
            "Capterra listing",
        ],
        Channel::PaidSocial => {
            &["LinkedIn — RevOps ABM", "LinkedIn — Sales leaders", "Meta — Retargeting", "LinkedIn — Conversation ads"]
        }
        Channel::Email => &[
            "Monthly newsletter",
            "Nurture — Pipeline hygiene",
            "Product launch announcement",
            "Re-engagement sequence",
        ],
        Channel::Event => {
            &["SaaStr Annual booth", "RevOps Summit sponsorship", "Dreamforce happy hour", "Regional roadshow"]
        }
        Channel::Webinar => &[
            "Webinar: Fixing the MQL-to-SAL handoff",
            "Webinar: Forecasting that sales trusts",
            "Webinar: Speed-to-lead benchmarks",
            "Webinar: Funnel KPIs both teams share",
        ],
        Channel::Partner => &["Partner referral program", "Reseller co-marketing", "Marketplace listing"],
        Channel::Outbound => &["Outbound — Fintech sequence", "Outbound — Mid-market logistics", "SDR cold calling"],
        Channel::OrganicSocial => &["Founder posts on LinkedIn", "Community AMA"],
        Channel::OrganicSearch | Channel::Referral | Channel::Direct | Channel::Other => &[],
    }
}

/// Qualification answers recorded when a lead becomes a SQL: budget, authority, need, timeline.
pub(super) const BANT: &[[&str; 4]] = &[
    [
        "Budget approved for this fiscal year",
        "VP of Sales signs; CFO co-approves",
        "Leads wait days for follow-up; MQL-to-SAL conversion is falling",
        "Go live this quarter",
    ],
    [
        "Budget in next quarter's plan",
        "Head of RevOps decides with the CRO",
        "No shared funnel numbers between marketing and sales",
        "Decision within 60 days",
    ],
    [
        "Replacing an existing tool, spend already allocated",
        "CMO and CRO jointly",
        "Lead routing is manual and slow",
        "Contract renewal of current tool in 3 months",
    ],
    [
        "Needs business case for the CFO",
        "Operations director, procurement involved",
        "Speed-to-lead above 24 hours",
        "Evaluating vendors until end of quarter",
    ],
    [
        "Small pilot budget, expansion later",
        "Founder decides",
        "Growing SDR team needs a clear handoff",
        "Pilot next month",
    ],
];

/// Free text a rep might type beside a reason code; most returns carry none.
pub(super) fn reason_notes(code: &str) -> &'static [&'static str] {
    match code {
        "BAD_TIMING" => &[
            "Asked us to come back next quarter",
            "Budget freeze until the new fiscal year",
            "Mid-reorg, revisit later",
        ],
        "NOT_A_FIT" => &["Too small for our product", "Consumer business, we sell B2B", "Needs on-premises only"],
        "NO_BUDGET" => &["No budget this year", "Spend frozen by the CFO"],
        "NO_RESPONSE" => &["Five calls and three e-mails, no answer", "Went dark after the first call"],
        "LOST_TO_COMPETITOR" => &["Chose the incumbent CRM add-on", "Went with a cheaper point solution"],
        "NO_AUTHORITY" => &["Intern researching tools", "Decision sits with the parent company"],
        "NO_NEED" => &["Happy with spreadsheets for now", "Only downloaded the report"],
        "WRONG_CONTACT" => &["Referred us to their RevOps lead", "Left the company"],
        "PRICE" => &["Price 30% above their expectation", "Wanted monthly billing only"],
        "INVALID_DATA" => &["Fake phone number", "Bounced e-mail"],
        "DUPLICATE_LEAD" => &["Same person as an existing lead"],
        "CHOSE_STATUS_QUO" => &["Decided to keep the current process"],
        _ => &["See call notes"],
    }
}

/// One element of a non-empty pool. The pools above are constants, so an empty one is a
/// coding error that `""` makes visible in the data instead of a panic.
pub(super) fn pick<'a>(rng: &mut impl Rng, pool: &[&'a str]) -> &'a str {
    pool.choose(rng).copied().unwrap_or("")
}
