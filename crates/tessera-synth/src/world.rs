//! The synthetic world: land and water from Natural Earth with a detailed coastline, and a
//! land-cover map defined in geographic coordinates (so it is continuous across tiles and
//! UTM zones), with patches from tens of metres to kilometres and changes between years.

use tessera_world::LandRaster;

use crate::noise::{fbm, hash2, unit, value_noise};

/// Land-cover classes of the synthetic world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Class {
    /// Open water: sea, lakes, rivers.
    Water = 0,
    /// Tree cover.
    Tree = 1,
    /// Cropland.
    Cropland = 2,
    /// Grassland and pasture.
    Grassland = 3,
    /// Built-up areas.
    BuiltUp = 4,
    /// Bare ground, quarries.
    Bare = 5,
    /// Wetland.
    Wetland = 6,
    /// Solar farms.
    SolarFarm = 7,
    /// Snow and ice.
    SnowIce = 8,
}

/// Number of classes.
pub const NCLASS: usize = 9;

/// All classes in id order.
pub const CLASSES: [Class; NCLASS] = [
    Class::Water,
    Class::Tree,
    Class::Cropland,
    Class::Grassland,
    Class::BuiltUp,
    Class::Bare,
    Class::Wetland,
    Class::SolarFarm,
    Class::SnowIce,
];

impl Class {
    /// The class of an id.
    pub fn from_id(id: u8) -> Option<Class> {
        CLASSES.get(usize::from(id)).copied()
    }

    /// Snake-case name.
    pub fn name(&self) -> &'static str {
        match self {
            Class::Water => "water",
            Class::Tree => "tree_cover",
            Class::Cropland => "cropland",
            Class::Grassland => "grassland",
            Class::BuiltUp => "built_up",
            Class::Bare => "bare_ground",
            Class::Wetland => "wetland",
            Class::SolarFarm => "solar_farm",
            Class::SnowIce => "snow_ice",
        }
    }

    /// A display colour (RGB).
    pub fn colour(&self) -> [u8; 3] {
        match self {
            Class::Water => [40, 100, 200],
            Class::Tree => [20, 110, 40],
            Class::Cropland => [230, 200, 80],
            Class::Grassland => [140, 200, 90],
            Class::BuiltUp => [200, 40, 40],
            Class::Bare => [170, 150, 130],
            Class::Wetland => [90, 170, 170],
            Class::SolarFarm => [70, 40, 140],
            Class::SnowIce => [240, 240, 250],
        }
    }
}

/// Metres east and north in a global frame continuous in (lon, lat).
#[inline]
pub fn metric(lon: f64, lat: f64) -> (f64, f64) {
    (lon * 111_320.0 * lat.to_radians().cos(), lat * 110_574.0)
}

/// The deterministic world of a seed.
#[derive(Debug, Clone, Copy)]
pub struct World {
    seed: u64,
}

/// Coarse fields of a location (kilometre scales), shared by all years.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    relief: f64,
    moist: f64,
    urban: f64,
    orient: f64,
}

impl World {
    /// The world of `seed`.
    pub fn new(seed: u64) -> World {
        World { seed }
    }

    fn s(&self, k: u64) -> u64 {
        self.seed
            .wrapping_mul(0x9E37_79B9)
            .wrapping_add(k.wrapping_mul(0x2545_F491_4F6C_DD1D))
    }

    /// Land or water at a point, with the coastline of `land` displaced by a few hundred
    /// metres of fractal noise so that it looks natural at 10 m.
    pub fn is_land(&self, land: &LandRaster, lon: f64, lat: f64) -> bool {
        let (x, y) = metric(lon, lat);
        let dx = fbm(self.s(1), x / 1800.0, y / 1800.0, 4) * 0.0035;
        let dy = fbm(self.s(2), x / 1800.0, y / 1800.0, 4) * 0.0025;
        land.at(lon + dx, lat + dy) == 1
    }

    /// The kilometre-scale fields at a metric position.
    pub fn fields(&self, x: f64, y: f64) -> Fields {
        Fields {
            relief: fbm(self.s(3), x / 7000.0, y / 7000.0, 5),
            moist: fbm(self.s(4), x / 5000.0, y / 5000.0, 4),
            urban: fbm(self.s(5), x / 3500.0, y / 3500.0, 4),
            orient: value_noise(self.s(6), x / 9000.0, y / 9000.0),
        }
    }

    /// The land-cover class of a land point (metric position, coarse fields) in `year`.
    pub fn class_at(&self, x: f64, y: f64, lat: f64, f: &Fields, year: i32) -> Class {
        let detail = fbm(self.s(7), x / 120.0, y / 120.0, 2);
        let relief = f.relief + 0.05 * detail;
        if lat.abs() > 62.0 && relief + 0.1 * detail > 0.3 {
            return Class::SnowIce;
        }
        // Lakes and river-like channels.
        let channel = value_noise(self.s(8), x / 2500.0, y / 2500.0).abs();
        if relief < -0.5 || (channel < 0.012 && relief < 0.1) {
            return Class::Water;
        }
        if relief < -0.4 && f.moist > -0.15 {
            return Class::Wetland;
        }
        // Towns grow a little every year.
        let growth = f64::from((year - 2017).clamp(0, 20)) * 0.006;
        if f.urban + 0.1 * detail > 0.42 - growth {
            return Class::BuiltUp;
        }
        if let Some(c) = self.solar_farm(x, y, year) {
            return c;
        }
        if relief > 0.55 && f.moist < -0.1 {
            return Class::Bare;
        }
        if f.moist + 0.2 * detail > 0.25 {
            return Class::Tree;
        }
        // Farmland: rectangular parcels in field systems of 6 km, each with its own
        // orientation; some parcels rotate between crop and grass from year to year.
        const REGION: f64 = 6000.0;
        let (rx, ry) = ((x / REGION).floor(), (y / REGION).floor());
        let rh = hash2(self.s(12), rx as i64, ry as i64);
        let angle = (unit(rh) - 0.5) * 1.2 + 0.3 * f.orient;
        let (sa, ca) = angle.sin_cos();
        let (lx, ly) = (x - rx * REGION, y - ry * REGION);
        let (u, v) = (lx * ca - ly * sa, lx * sa + ly * ca);
        let (pw, ph) = (
            180.0 + 160.0 * unit(rh >> 7),
            120.0 + 120.0 * unit(rh >> 17),
        );
        let (pu, pv) = (
            (u / pw).floor() as i64 + rx as i64 * 1_000_003,
            (v / ph).floor() as i64 + ry as i64 * 1_000_033,
        );
        let h = unit(hash2(self.s(9), pu, pv));
        let base = if h < 0.6 {
            Class::Cropland
        } else if h < 0.93 {
            Class::Grassland
        } else if h < 0.97 {
            Class::Tree
        } else {
            Class::Bare
        };
        let rotate = unit(hash2(self.s(10) ^ year as u64, pu, pv)) < 0.15;
        match (base, rotate) {
            (Class::Cropland, true) => Class::Grassland,
            (Class::Grassland, true) => Class::Cropland,
            (c, _) => c,
        }
    }

    /// Solar farms: rare rectangles of 160 to 500 m, each built in some year.
    fn solar_farm(&self, x: f64, y: f64, year: i32) -> Option<Class> {
        const CELL: f64 = 2500.0;
        let (cx, cy) = ((x / CELL).floor(), (y / CELL).floor());
        let h = hash2(self.s(11), cx as i64, cy as i64);
        if unit(h) >= 0.12 {
            return None;
        }
        let built = 2017 + (h >> 20) as i32 % 9;
        if year < built {
            return None;
        }
        let r = |k: u64| unit(crate::noise::mix64(h ^ k));
        let (ox, oy) = (
            cx * CELL + CELL * (0.2 + 0.6 * r(1)),
            cy * CELL + CELL * (0.2 + 0.6 * r(2)),
        );
        let (hw, hh) = (80.0 + 170.0 * r(3), 80.0 + 170.0 * r(4));
        ((x - ox).abs() < hw && (y - oy).abs() < hh).then_some(Class::SolarFarm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_vary_and_persist() {
        let w = World::new(42);
        let mut counts = [0u32; NCLASS];
        let mut changed = 0;
        let n = 40_000u32;
        for i in 0..n {
            let (x, y) = (
                f64::from(i % 200) * 97.0 + 10_000.0,
                f64::from(i / 200) * 97.0 + 5_700_000.0,
            );
            let f = w.fields(x, y);
            let a = w.class_at(x, y, 51.5, &f, 2023);
            let b = w.class_at(x, y, 51.5, &f, 2024);
            counts[a as usize] += 1;
            changed += u32::from(a != b);
        }
        let present = counts.iter().filter(|&&c| c > 0).count();
        assert!(present >= 6, "{counts:?}");
        assert!(changed > 0 && changed < n / 5, "{changed} of {n} changed");
    }
}
