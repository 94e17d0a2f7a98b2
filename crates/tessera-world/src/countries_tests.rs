use super::*;

fn one(q: &str) -> CountryMatch {
    resolve_country(q).unwrap_or_else(|e| panic!("{q}: {e}"))
}

#[test]
fn loads_and_resolves() {
    assert!(countries().len() > 230, "{}", countries().len());
    let uk = country_by_name("UK").unwrap();
    assert_eq!(uk[0].name_en, "United Kingdom");
    let b = total_bounds(&uk).unwrap();
    assert!(
        b[0] < -5.0 && b[2] > 1.0 && b[1] > 49.0 && b[3] < 61.0,
        "{b:?}"
    );
    assert_eq!(country_by_name("gbr").unwrap()[0].name_en, "United Kingdom");
    assert_eq!(country_by_name(" france ").unwrap()[0].name_en, "France");
    assert_eq!(country_by_name("FR").unwrap()[0].name_en, "France");
    assert_eq!(country_by_name("Germny").unwrap()[0].name_en, "Germany");
    assert!(country_by_name("Atlantis").is_err());
    assert!(country_by_name("").is_err());
}

#[test]
fn small_countries_resolve() {
    let m = one("Monaco");
    assert_eq!(m.name, "Monaco");
    assert_eq!(
        (m.alpha2().unwrap(), m.alpha3().unwrap()),
        ("MC".into(), "MCO".into())
    );
    let [w, s, e, n] = m.bbox;
    assert!(
        w > 7.3 && e < 7.5 && s > 43.7 && n < 43.8 && w < e && s < n,
        "{:?}",
        m.bbox
    );
    let li = one("li");
    assert_eq!(li.name, "Liechtenstein");
    assert_eq!(li.how, MatchKind::IsoCode);
    let [w, s, e, n] = li.bbox;
    assert!(w > 9.4 && e < 9.7 && s > 47.0 && n < 47.3, "{:?}", li.bbox);
    for (q, name) in [
        ("AND", "Andorra"),
        ("san marino", "San Marino"),
        ("VA", "Vatican"),
        ("Malta", "Malta"),
        ("SGP", "Singapore"),
        ("bahrain", "Bahrain"),
        ("holy see (vatican city state)", "Vatican"),
    ] {
        assert_eq!(one(q).name, name, "{q}");
    }
    // A part that carries its country's code does not take the code over.
    assert_eq!(one("AU").name, "Australia");
}

#[test]
fn numeric_join_gives_the_codes() {
    for (q, name, a2, a3) in [
        ("France", "France", "FR", "FRA"),
        ("Norway", "Norway", "NO", "NOR"),
        ("NOR", "Norway", "NO", "NOR"),
        ("Kenya", "Kenya", "KE", "KEN"),
        ("United Kingdom", "United Kingdom", "GB", "GBR"),
        ("usa", "United States of America", "US", "USA"),
        ("Taiwan", "Taiwan", "TW", "TWN"),
        ("cn-tw", "Taiwan", "TW", "TWN"),
    ] {
        let m = one(q);
        assert_eq!(m.name, name, "{q}");
        assert_eq!(m.alpha2().as_deref(), Some(a2), "{q}");
        assert_eq!(m.alpha3().as_deref(), Some(a3), "{q}");
    }
    let fr = one("France");
    assert_eq!(fr.countries[0].iso_n3, "250");
    // Kosovo has no numeric code; it joins by name and keeps its user-assigned XK.
    let xk = one("Kosovo");
    assert_eq!(xk.alpha2().as_deref(), Some("XK"));
    assert_eq!(one("xk").name, "Kosovo");
    // Natural Earth's abbreviated map names resolve too.
    assert_eq!(one("Bosnia and Herz.").name, "Bosnia and Herzegovina");
}

#[test]
fn how_it_matched_is_reported() {
    let m = one("norway");
    assert_eq!(m.how, MatchKind::Name);
    assert!(
        m.to_string()
            .starts_with("country 'norway' -> Norway (NO, NOR), bbox "),
        "{m}"
    );
    assert_eq!(one("NO").how, MatchKind::IsoCode);
    assert_eq!(one("uk").how, MatchKind::Alias);
    let m = one("Germny");
    match &m.how {
        MatchKind::CloseSpelling { key, score } => {
            assert_eq!(key, "germany");
            assert!((score - 0.923).abs() < 1e-3, "{score}");
        }
        other => panic!("{other:?}"),
    }
    assert!(m.to_string().contains("closest spelling"), "{m}");
    assert!(m.to_string().contains("0.92"), "{m}");
    let m = one("Monaco");
    assert_eq!(
        m.to_string(),
        format!(
            "country 'Monaco' -> Monaco (MC, MCO), bbox {:.4},{:.4},{:.4},{:.4}",
            m.bbox[0], m.bbox[1], m.bbox[2], m.bbox[3]
        )
    );
}

#[test]
fn a_miss_suggests_names() {
    let e = resolve_country("Jermny").unwrap_err();
    assert!(e.suggestions.contains(&"Germany".to_string()), "{e:?}");
    assert!(e.suggestions.len() <= 5);
    let msg = e.to_string();
    assert!(
        msg.starts_with("country 'Jermny' not found; did you mean: "),
        "{msg}"
    );
    assert!(
        msg.ends_with("? Run 'tessera countries' to list them"),
        "{msg}"
    );
    let e = resolve_country("Atlantis").unwrap_err();
    assert!(e.to_string().contains("not found"), "{e}");
    assert!(e.to_string().contains("tessera countries"), "{e}");
    let e = resolve_country("qqqqqqqqqq").unwrap_err();
    assert!(e.suggestions.is_empty());
}

#[test]
fn listing_and_filter() {
    let all = find_countries("");
    assert_eq!(all.len(), countries().len());
    let keys: Vec<String> = all.iter().map(|c| sort_key(&c.name_en)).collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]));
    let mon: Vec<&str> = find_countries("MON")
        .iter()
        .map(|c| c.name_en.as_str())
        .collect();
    assert!(
        mon.contains(&"Monaco") && mon.contains(&"Mongolia"),
        "{mon:?}"
    );
    assert!(
        mon.contains(&"Montenegro") && mon.contains(&"Montserrat"),
        "{mon:?}"
    );
    // An ISO code selects its country, not every name containing the letters.
    let no: Vec<&str> = find_countries("no")
        .iter()
        .map(|c| c.name_en.as_str())
        .collect();
    assert!(no.contains(&"Norway"), "{no:?}");
    let nor: Vec<&str> = find_countries("nor")
        .iter()
        .map(|c| c.name_en.as_str())
        .collect();
    assert!(
        nor.contains(&"Norway") && nor.contains(&"North Korea"),
        "{nor:?}"
    );
    assert!(find_countries("zzzz").is_empty());
}

#[test]
fn every_country_has_a_sane_bbox() {
    for c in countries() {
        let [w, s, e, n] = c.bbox;
        assert!(
            (-180.0..=180.0).contains(&w) && w <= e && e <= 180.0,
            "{} {:?}",
            c.name_en,
            c.bbox
        );
        assert!(
            (-90.0..=90.0).contains(&s) && s <= n && n <= 90.0,
            "{}",
            c.name_en
        );
        assert!(!c.name_en.is_empty());
    }
}
