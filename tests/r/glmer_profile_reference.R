# lme4 1.1-31's profile-likelihood intervals for GLMMs: profile(gm) and confint(gm) (method = "profile", lme4's
# default) of glmer fits — the reference for tests/against_r/test_glmer_profile.py.
#
#   Rscript tests/r/glmer_profile_reference.R        (from the repository root)
#
# Writes tests/reference/glmer_profile_lme4.json and the one data set it makes (a simulated binary data set whose
# fit is singular, tests/reference/glmer_profile_singular.csv).  The other fits read the CSV files that
# tests/r/glmer_reference.R wrote from lme4's and mlmRev's data (glmer_cbpp.csv, glmer_contraception.csv,
# glmer_grouseticks.csv), so R and Python see the same rows.  Every fit uses glmer's defaults; profile() then
# uses lme4's defaults too: the fit's stage-2 optimizer (Nelder_Mead) over the other parameters of the deviance
# function of (theta, beta) at the fit's nAGQ, points every cutoff/8 in zeta until |zeta| > sqrt(qchisq(.99, p)),
# interval ends read from an interpolating spline.  The first profile() of each fit is timed (system.time,
# elapsed); PROFILE_TIMING_REPS (default 1) sets how many times in all.  About 8 minutes (measured with the load
# at 3 to 4 on 2 cores), most of it the contraception model's profile (twice: profile() and confint(), which must
# agree), then grouseticks with three grouping factors.
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

ref_dir <- "tests/reference"
reps <- max(1L, as.integer(Sys.getenv("PROFILE_TIMING_REPS", "1")))
source("tests/r/common.R")
sets <- read_glmer_sets(ref_dir)  # cbpp, contra, grouse: the CSVs of glmer_reference.R with R's factor levels
cbpp <- sets$cbpp
contra <- sets$contra
grouse <- sets$grouse
stopifnot(nrow(contra) == 1934, nlevels(contra$district) == 60)

# a fit on the boundary: binary data with no group effect at all (seed 1: glmer's SD is exactly 0)
set.seed(1)
sing <- data.frame(g = rep(1:12, each = 15), x = rnorm(180))
sing$y <- rbinom(180, 1, plogis(-0.3 + 0.6 * sing$x))
write.csv(sing, file.path(ref_dir, "glmer_profile_singular.csv"), row.names = FALSE)
sing$g <- factor(sing$g)

# a correlated random slope (three variance parameters: .sig01, .sig02 the correlation, .sig03), Poisson counts
set.seed(2)
slope <- data.frame(g = rep(1:25, each = 16), x = rnorm(400))
b0 <- rnorm(25, 0, 0.8)
b1 <- 0.5 * b0 + rnorm(25, 0, 0.4)
slope$y <- rpois(400, exp(0.4 + 0.3 * slope$x + b0[slope$g] + b1[slope$g] * slope$x))
write.csv(slope, file.path(ref_dir, "glmer_profile_slope.csv"), row.names = FALSE)
slope$g <- factor(slope$g)

models <- list(
  cbpp = list(formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)", data = "cbpp",
              family = "binomial", nAGQ = 1L),
  cbpp_agq = list(formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)", data = "cbpp",
                  family = "binomial", nAGQ = 9L),
  contraception = list(formula = "use ~ age + I(age^2) + urban + livch + (1 | district)", data = "contra",
                       family = "binomial", nAGQ = 1L),
  grouseticks = list(formula = "TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD)", data = "grouse",
                     family = "poisson", nAGQ = 1L),
  grouse_three = list(formula = "TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
                      data = "grouse", family = "poisson", nAGQ = 1L),
  singular = list(formula = "y ~ x + (1 | g)", data = "sing", family = "binomial", nAGQ = 1L),
  slope = list(formula = "y ~ x + (x | g)", data = "slope", family = "poisson", nAGQ = 1L)
)

mat <- function(ci) list(parameter = rownames(ci), lower = unname(ci[, 1]), upper = unname(ci[, 2]))

out <- list()
for (key in names(models)) {
  s <- models[[key]]
  d <- get(s$data)
  fam <- get(s$family)
  m <- glmer(as.formula(s$formula), data = d, family = fam, nAGQ = s$nAGQ)
  t1 <- system.time(pr <- profile(m))[["elapsed"]]
  ci95 <- confint(pr, level = 0.95)
  ci90 <- confint(pr, level = 0.90)
  ci_default <- suppressMessages(confint(m))  # method = "profile" is lme4's default, for glmer too
  stopifnot(isTRUE(all.equal(ci95, ci_default)))
  prd <- as.data.frame(pr)
  rows <- lapply(levels(prd$.par), function(p) {
    s <- prd[prd$.par == p, ]
    list(par = p, value = s[[p]], zeta = s$.zeta)
  })
  times <- c(t1, if (reps > 1) sapply(seq_len(reps - 1), function(i) system.time(profile(m))[["elapsed"]]))
  out[[key]] <- list(
    formula = s$formula, data = s$data, family = s$family, nAGQ = s$nAGQ,
    minus2loglik = -2 * as.numeric(logLik(m)), theta = unname(getME(m, "theta")),
    fixef = unname(fixef(m)), fixef_names = names(fixef(m)), singular = isSingular(m),
    optimizer = m@optinfo$optimizer,
    profile_ci95 = mat(ci95), profile_ci90 = mat(ci90), profile_points = rows,
    profile_seconds = I(times), load_during = readLines("/proc/loadavg"))
  cat(key, "\n"); print(ci95); cat("seconds:", times, "\n")
}

meta <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
             Matrix = as.character(packageVersion("Matrix")), date = format(Sys.time(), "%Y-%m-%d"),
             load = tryCatch(readLines("/proc/loadavg"), error = function(e) NA_character_))
writeLines(toJSON(list(meta = meta, models = out), digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(ref_dir, "glmer_profile_lme4.json"))
