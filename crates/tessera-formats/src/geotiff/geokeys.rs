//! GeoTIFF georeferencing: GeoKey directories for EPSG-coded CRSs, and the model tags
//! (pixel scale + tie point, or a full transformation matrix) for affine transforms.

use tessera_core::{Affine, Crs};

/// GeoKeyDirectoryTag.
pub const TAG_GEO_KEY_DIRECTORY: u16 = 34735;
/// GeoDoubleParamsTag.
pub const TAG_GEO_DOUBLE_PARAMS: u16 = 34736;
/// GeoAsciiParamsTag.
pub const TAG_GEO_ASCII_PARAMS: u16 = 34737;
/// ModelPixelScaleTag.
pub const TAG_MODEL_PIXEL_SCALE: u16 = 33550;
/// ModelTiepointTag.
pub const TAG_MODEL_TIEPOINT: u16 = 33922;
/// ModelTransformationTag.
pub const TAG_MODEL_TRANSFORMATION: u16 = 34264;

const GT_MODEL_TYPE: u16 = 1024;
const GT_RASTER_TYPE: u16 = 1025;
const GT_CITATION: u16 = 1026;
const GEOGRAPHIC_TYPE: u16 = 2048;
const GEOG_CITATION: u16 = 2049;
const GEOG_ANGULAR_UNITS: u16 = 2054;
const PROJECTED_CS_TYPE: u16 = 3072;
const PROJ_LINEAR_UNITS: u16 = 3076;
const PROJECTION: u16 = 3074;
const PROJ_COORD_TRANS: u16 = 3075;
const PROJ_NAT_ORIGIN_LONG: u16 = 3080;
const PROJ_NAT_ORIGIN_LAT: u16 = 3081;
const PROJ_FALSE_EASTING: u16 = 3082;
const PROJ_FALSE_NORTHING: u16 = 3083;
const PROJ_SCALE_AT_NAT_ORIGIN: u16 = 3092;
const USER_DEFINED: u16 = 32767;
/// ProjCoordTransGeoKey value of a transverse Mercator.
const CT_TRANSVERSE_MERCATOR: u16 = 1;

/// Raster type PixelIsArea (the corner of the top-left pixel is the tie point).
pub const RASTER_PIXEL_IS_AREA: u16 = 1;
/// Raster type PixelIsPoint (the centre of the top-left pixel is the tie point).
pub const RASTER_PIXEL_IS_POINT: u16 = 2;

/// The human-readable name GDAL and PROJ give these CRSs.
pub fn crs_citation(crs: &Crs) -> String {
    match *crs {
        Crs::Wgs84 => "WGS 84".to_string(),
        Crs::WebMercator => "WGS 84 / Pseudo-Mercator".to_string(),
        Crs::Utm { zone, north } => {
            format!("WGS 84 / UTM zone {zone}{}", if north { "N" } else { "S" })
        }
        Crs::LocalTm { .. } => "WGS 84 / Transverse Mercator".to_string(),
    }
}

/// Builds the GeoKeyDirectory (SHORT values) and GeoAsciiParams for an EPSG CRS (a
/// centred transverse Mercator also needs [`geo_doubles_for`]).
pub fn geokeys_for(crs: &Crs) -> (Vec<u16>, String) {
    // (key, location, count, value); location 0 = value inline, 34737 = ASCII params.
    let mut keys: Vec<[u16; 4]> = Vec::new();
    let mut ascii = String::new();
    let mut push_ascii = |keys: &mut Vec<[u16; 4]>, key: u16, text: &str| {
        let offset = ascii.len() as u16;
        ascii.push_str(text);
        ascii.push('|');
        keys.push([key, TAG_GEO_ASCII_PARAMS, text.len() as u16 + 1, offset]);
    };
    let citation = crs_citation(crs);
    if let Crs::LocalTm { .. } = crs {
        // A user-defined projected CRS on WGS84; the parameters are the doubles of
        // `geo_doubles_for`, in this order.
        keys.push([GT_MODEL_TYPE, 0, 1, 1]);
        keys.push([GT_RASTER_TYPE, 0, 1, RASTER_PIXEL_IS_AREA]);
        push_ascii(&mut keys, GT_CITATION, &citation);
        keys.push([GEOGRAPHIC_TYPE, 0, 1, 4326]);
        keys.push([PROJECTED_CS_TYPE, 0, 1, USER_DEFINED]);
        keys.push([PROJECTION, 0, 1, USER_DEFINED]);
        keys.push([PROJ_COORD_TRANS, 0, 1, CT_TRANSVERSE_MERCATOR]);
        keys.push([PROJ_LINEAR_UNITS, 0, 1, 9001]);
        for (i, k) in [
            PROJ_NAT_ORIGIN_LONG,
            PROJ_NAT_ORIGIN_LAT,
            PROJ_FALSE_EASTING,
            PROJ_FALSE_NORTHING,
            PROJ_SCALE_AT_NAT_ORIGIN,
        ]
        .into_iter()
        .enumerate()
        {
            keys.push([k, TAG_GEO_DOUBLE_PARAMS, 1, i as u16]);
        }
    } else if crs.is_projected() {
        keys.push([GT_MODEL_TYPE, 0, 1, 1]);
        keys.push([GT_RASTER_TYPE, 0, 1, RASTER_PIXEL_IS_AREA]);
        push_ascii(&mut keys, GT_CITATION, &citation);
        keys.push([PROJECTED_CS_TYPE, 0, 1, crs.epsg().unwrap_or(0) as u16]);
        keys.push([PROJ_LINEAR_UNITS, 0, 1, 9001]);
    } else {
        keys.push([GT_MODEL_TYPE, 0, 1, 2]);
        keys.push([GT_RASTER_TYPE, 0, 1, RASTER_PIXEL_IS_AREA]);
        keys.push([GEOGRAPHIC_TYPE, 0, 1, crs.epsg().unwrap_or(0) as u16]);
        push_ascii(&mut keys, GEOG_CITATION, &citation);
        keys.push([GEOG_ANGULAR_UNITS, 0, 1, 9102]);
    }
    keys.sort_by_key(|k| k[0]);
    let mut dir = vec![1, 1, 0, keys.len() as u16];
    for k in keys {
        dir.extend_from_slice(&k);
    }
    (dir, ascii)
}

/// The GeoDoubleParams of `crs` (empty for EPSG-coded CRSs): a centred transverse
/// Mercator's origin longitude and latitude, false easting and northing, and scale.
pub fn geo_doubles_for(crs: &Crs) -> Vec<f64> {
    match crs.tm_centre() {
        Some((lon, lat)) => vec![lon, lat, 0.0, 0.0, 1.0],
        None => Vec::new(),
    }
}

/// What a GeoKey directory says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GeoKeys {
    /// GTModelTypeGeoKey (1 projected, 2 geographic).
    pub model_type: Option<u16>,
    /// GTRasterTypeGeoKey.
    pub raster_type: Option<u16>,
    /// ProjectedCSTypeGeoKey.
    pub projected_epsg: Option<u16>,
    /// GeographicTypeGeoKey.
    pub geographic_epsg: Option<u16>,
    /// ProjCoordTransGeoKey (1: transverse Mercator).
    pub coord_trans: Option<u16>,
    /// Double-valued keys (key, index into GeoDoubleParams).
    pub doubles: Vec<(u16, u16)>,
}

impl GeoKeys {
    /// Parses a directory; malformed directories give `None` (no CRS), never a panic.
    pub fn parse(dir: &[u16]) -> Option<GeoKeys> {
        if dir.len() < 4 || dir[0] != 1 {
            return None;
        }
        let n = usize::from(dir[3]);
        let entries = dir.get(4..4 + n * 4)?;
        let mut out = GeoKeys::default();
        for e in entries.chunks_exact(4) {
            if e[1] == TAG_GEO_DOUBLE_PARAMS && e[2] == 1 {
                out.doubles.push((e[0], e[3]));
                continue;
            }
            if e[1] != 0 || e[2] != 1 {
                continue; // ASCII values are not needed here
            }
            match e[0] {
                GT_MODEL_TYPE => out.model_type = Some(e[3]),
                GT_RASTER_TYPE => out.raster_type = Some(e[3]),
                PROJECTED_CS_TYPE => out.projected_epsg = Some(e[3]),
                GEOGRAPHIC_TYPE => out.geographic_epsg = Some(e[3]),
                PROJ_COORD_TRANS => out.coord_trans = Some(e[3]),
                _ => {}
            }
        }
        Some(out)
    }

    /// The CRS: an EPSG code we implement, or a user-defined transverse Mercator on WGS84
    /// with scale 1 and no false origin (what we write for [`Crs::LocalTm`]); `doubles` is
    /// the GeoDoubleParams tag.
    pub fn crs(&self, doubles: &[f64]) -> Option<Crs> {
        if let Some(c) = self.epsg() {
            return Crs::from_epsg(c).ok();
        }
        if self.model_type != Some(1)
            || self.coord_trans != Some(CT_TRANSVERSE_MERCATOR)
            || self.geographic_epsg.is_some_and(|g| g != 4326)
        {
            return None;
        }
        let get = |key: u16| {
            self.doubles
                .iter()
                .find(|(k, _)| *k == key)
                .and_then(|&(_, i)| doubles.get(usize::from(i)).copied())
        };
        let zero = |key: u16| get(key).unwrap_or(0.0) == 0.0;
        if get(PROJ_SCALE_AT_NAT_ORIGIN).unwrap_or(1.0) != 1.0
            || !zero(PROJ_FALSE_EASTING)
            || !zero(PROJ_FALSE_NORTHING)
        {
            return None;
        }
        Crs::local_tm(
            get(PROJ_NAT_ORIGIN_LONG)?,
            get(PROJ_NAT_ORIGIN_LAT).unwrap_or(0.0),
        )
        .ok()
    }

    /// The EPSG code of the CRS (projected if given, else geographic), ignoring the
    /// "user-defined" 32767 value.
    pub fn epsg(&self) -> Option<u32> {
        let pick = |v: Option<u16>| v.filter(|&c| c != 0 && c != 32767).map(u32::from);
        match self.model_type {
            Some(2) => pick(self.geographic_epsg),
            _ => pick(self.projected_epsg).or_else(|| pick(self.geographic_epsg)),
        }
    }
}

/// The model tags that carry a transform.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelTags {
    /// North-up: ModelPixelScale and ModelTiepoint.
    ScaleTiepoint([f64; 3], [f64; 6]),
    /// Anything else: ModelTransformation (a 4×4 matrix).
    Matrix([f64; 16]),
}

/// The model tags for a transform.
pub fn model_tags(t: &Affine) -> ModelTags {
    if t.is_north_up() && t.a > 0.0 && t.e < 0.0 {
        ModelTags::ScaleTiepoint([t.a, -t.e, 0.0], [0.0, 0.0, 0.0, t.c, t.f, 0.0])
    } else {
        ModelTags::Matrix([
            t.a, t.b, 0.0, t.c, t.d, t.e, 0.0, t.f, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0,
        ])
    }
}

/// The transform from model tags, as GDAL reads them (PixelIsPoint shifted by half a pixel).
pub fn transform_from_tags(
    pixel_scale: Option<&[f64]>,
    tiepoint: Option<&[f64]>,
    matrix: Option<&[f64]>,
    raster_type: Option<u16>,
) -> Option<Affine> {
    let mut t = if let (Some(s), Some(tp)) = (pixel_scale, tiepoint) {
        if s.len() < 2 || tp.len() < 6 || !s.iter().chain(tp).all(|v| v.is_finite()) {
            return None;
        }
        // Tie raster point (i, j) to model point (x, y).
        let (i, j, x, y) = (tp[0], tp[1], tp[3], tp[4]);
        Affine {
            a: s[0],
            b: 0.0,
            c: x - i * s[0],
            d: 0.0,
            e: -s[1],
            f: y + j * s[1],
        }
    } else if let Some(m) = matrix {
        if m.len() < 8 || !m.iter().all(|v| v.is_finite()) {
            return None;
        }
        Affine {
            a: m[0],
            b: m[1],
            c: m[3],
            d: m[4],
            e: m[5],
            f: m[7],
        }
    } else {
        return None;
    };
    if raster_type == Some(RASTER_PIXEL_IS_POINT) {
        let (x, y) = t.apply(-0.5, -0.5);
        t.c = x;
        t.f = y;
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keys() {
        for code in [32631u32, 32701, 4326, 3857] {
            let crs = Crs::from_epsg(code).unwrap();
            let (dir, ascii) = geokeys_for(&crs);
            assert!(ascii.ends_with('|'));
            assert_eq!(GeoKeys::parse(&dir).unwrap().epsg(), Some(code));
        }
        assert_eq!(GeoKeys::parse(&[1, 1, 0, 9]), None);
        assert_eq!(GeoKeys::parse(&[]), None);
    }

    #[test]
    fn transforms() {
        let t = Affine::north_up(300933.936, 5776128.478, 10.0);
        let ModelTags::ScaleTiepoint(s, tp) = model_tags(&t) else {
            panic!("north-up")
        };
        assert_eq!(
            transform_from_tags(Some(&s), Some(&tp), None, Some(1)),
            Some(t)
        );
        let shifted = transform_from_tags(Some(&s), Some(&tp), None, Some(2)).unwrap();
        assert_eq!((shifted.c, shifted.f), (t.c - 5.0, t.f + 5.0));
        let r = Affine { b: 1.0, ..t };
        let ModelTags::Matrix(m) = model_tags(&r) else {
            panic!("rotated")
        };
        assert_eq!(transform_from_tags(None, None, Some(&m), None), Some(r));
        assert_eq!(
            transform_from_tags(Some(&[f64::NAN, 1.0]), Some(&tp), None, None),
            None
        );
    }
}
