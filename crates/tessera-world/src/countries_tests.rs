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

/// The 1:110m bbox of the record named `name_en`.
fn bbox_110m(name_en: &str) -> [f64; 4] {
    crate::ne110m::ne110m()
        .iter()
        .find(|r| r.name_en == name_en)
        .unwrap_or_else(|| panic!("{name_en} in 1:110m"))
        .bbox
}

/// All the polygons of the 1:50m feature with map name `name`, as the TopoJSON has them.
fn feature_polygons(name: &str) -> Vec<Polygon> {
    topojson::decode(TOPOJSON, "countries")
        .unwrap()
        .into_iter()
        .find(|f| f.properties["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("{name} in 1:50m"))
        .polygons
}

fn square(w: f64, s: f64, e: f64, n: f64) -> Polygon {
    Polygon {
        rings: vec![vec![(w, s), (w, n), (e, n), (e, s), (w, s)]],
    }
}

#[test]
fn near_110m_keeps_what_meets_the_grown_box() {
    let bbox = [0.0, 0.0, 10.0, 10.0];
    let inside = square(2.0, 2.0, 3.0, 3.0);
    let near = square(14.0, 14.0, 20.0, 20.0); // its corner is in the grown box
    let far = square(15.5, 0.0, 16.0, 1.0);
    // A thin sliver whose edge crosses the grown box with no vertex in it.
    let crossing = Polygon {
        rings: vec![vec![(-20.0, 5.0), (-20.0, 5.1), (30.0, 5.1), (30.0, 5.0)]],
    };
    // A polygon the grown box lies inside.
    let around = square(-50.0, -50.0, 50.0, 50.0);
    // Beyond the antimeridian: the grown box does not wrap.
    let wrapped = Polygon {
        rings: vec![vec![(-180.0, 0.0), (-180.0, 1.0), (-178.0, 0.0)]],
    };
    let all = [
        inside.clone(),
        near.clone(),
        far.clone(),
        crossing.clone(),
        around.clone(),
    ];
    assert_eq!(
        near_110m(&all, bbox),
        vec![inside.clone(), near, crossing, around]
    );
    let east = [174.0, -40.0, 178.0, -35.0];
    assert_eq!(
        near_110m(&[square(175.0, -39.0, 176.0, -38.0), wrapped.clone()], east),
        vec![square(175.0, -39.0, 176.0, -38.0)]
    );
    // A 1:110m bbox over all longitudes keeps everything, as does a miss.
    let world = [-180.0, -20.0, 180.0, -15.0];
    assert_eq!(near_110m(&[far.clone(), wrapped.clone()], world).len(), 2);
    assert_eq!(
        near_110m(std::slice::from_ref(&far), [0.0, 50.0, 1.0, 51.0]),
        vec![far]
    );
}

#[test]
fn overseas_parts_are_left_out() {
    // 1:110m's France includes French Guiana (and nothing else overseas).
    let fr110 = bbox_110m("France");
    for (got, want) in fr110.iter().zip([-54.52, 2.05, 9.56, 51.15]) {
        assert!((got - want).abs() < 0.01, "{fr110:?}");
    }
    let fr = one("France").bbox;
    for (a, b) in fr.iter().zip(fr110) {
        assert!((a - b).abs() <= 1.0, "{fr:?} vs {fr110:?}");
    }
    assert!(
        one("Netherlands").bbox[0] > 3.0,
        "{:?}",
        one("Netherlands").bbox
    );
    assert!(one("Norway").bbox[0] > 4.0, "{:?}", one("Norway").bbox);
    // The USA: 1:110m's box (-171.8..-67.0) and the eastern Aleutians near it, not -180..180.
    let us110 = bbox_110m("United States of America");
    assert!(us110[0] > -172.0 && us110[2] < -66.9, "{us110:?}");
    let us = one("usa").bbox;
    assert!(
        us[0] > -180.0 && us[0] < us110[0] && us[2] < -66.0,
        "{us:?}"
    );
    let nz = one("New Zealand").bbox;
    assert!(nz[0] > 160.0 && nz[2] < 179.0 && nz[3] < -34.0, "{nz:?}");
    assert!(one("Chile").bbox[0] > -80.0, "{:?}", one("Chile").bbox);
    assert!(one("Ecuador").bbox[0] > -82.0, "{:?}", one("Ecuador").bbox);
    assert!(
        one("Portugal").bbox[0] > -10.0,
        "{:?}",
        one("Portugal").bbox
    );
    assert!(one("Spain").bbox[1] > 35.0, "{:?}", one("Spain").bbox);
}

#[test]
fn nearby_islands_stay_in() {
    let uk = one("uk").bbox;
    assert!(uk[3] >= 60.8 && uk[3] < 61.0, "Shetland: {uk:?}");
    assert!(
        one("Denmark").bbox[2] > 15.0,
        "Bornholm: {:?}",
        one("Denmark").bbox
    );
    assert!(
        one("Greece").bbox[2] > 28.0,
        "Rhodes: {:?}",
        one("Greece").bbox
    );
    assert!(
        one("Japan").bbox[1] < 26.5,
        "Okinawa: {:?}",
        one("Japan").bbox
    );
}

#[test]
fn antimeridian_and_small_countries_keep_every_polygon() {
    for (q, name) in [
        ("Russia", "Russia"),
        ("Fiji", "Fiji"),
        ("Monaco", "Monaco"),
        ("Liechtenstein", "Liechtenstein"),
    ] {
        let m = one(q);
        assert_eq!(m.countries.len(), 1, "{q}");
        let all = feature_polygons(name);
        assert_eq!(m.countries[0].polygons, all, "{q}");
        let b = rings_bbox(all.iter().flat_map(|p| p.rings.iter())).unwrap();
        assert_eq!(m.bbox, b, "{q}");
    }
    // Russia and Fiji still span the antimeridian, as before.
    for q in ["Russia", "Fiji"] {
        let b = one(q).bbox;
        assert!(b[0] <= -179.9 && b[2] >= 179.8, "{q} {b:?}");
    }
    // Monaco and Liechtenstein stay tight.
    let [w, s, e, n] = one("Monaco").bbox;
    assert!(e - w < 0.1 && n - s < 0.1, "{:?}", one("Monaco").bbox);
    let [w, s, e, n] = one("Liechtenstein").bbox;
    assert!(
        e - w < 0.3 && n - s < 0.3,
        "{:?}",
        one("Liechtenstein").bbox
    );
}

/// Every polygon of a country 1:110m has meets the grown 1:110m box (the fallback that keeps
/// all when none does is never taken), unless that box spans all longitudes.
#[test]
fn every_joined_country_stays_near_its_110m_box() {
    let m = NEAR_110M_DEG;
    let mut joined = 0;
    for r in crate::ne110m::ne110m() {
        let [w, s, e, n] = r.bbox;
        if e - w >= 359.0 {
            continue;
        }
        let grown = [w - m, s - m, e + m, n + m];
        for c in countries().iter().filter(|c| c.name_en == r.name_en) {
            joined += 1;
            assert!(
                c.polygons.iter().all(|p| polygon_meets_box(p, grown)),
                "{} {:?} vs {:?}",
                c.name_en,
                c.bbox,
                r.bbox
            );
        }
    }
    assert!(joined > 170, "{joined}");
}
