# lme4 reference values for chapter 20, "Counts" (chapters/20_counts.md).
#
#   Rscript tests/r/counts_reference.R          (from the repository root)
#
# Every fit the chapter makes, fitted to OUR data/mmmec.csv (mlmRev's Mmmec: melanoma deaths in 354 counties
# of 78 regions of 9 countries of the European Community) with lme4's default glmerControl():
#   glm      glm(deaths ~ uvb + offset(log(expected)), family = poisson)        the plain Poisson GLM
#   quasi    the same with family = quasipoisson                                 (SEs times sqrt(dispersion))
#   region   glmer(deaths ~ uvb + offset(log(expected)) + (1 | region))          Laplace (nAGQ = 1)
#   agq10    the same with nAGQ = 10
#   agq25    the same with nAGQ = 25
#   nested   glmer(deaths ~ uvb + offset(log(expected)) + (1 | nation/region))
#   olre     glmer(deaths ~ uvb + offset(log(expected)) + (1 | nation/region) + (1 | county))
# and to OUR data/grouseticks.csv (lme4's grouseticks: ticks on 403 red grouse chicks, Elston et al. 2001):
#   grouse_pois  glmer(TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | LOCATION))
#   grouse_olre  glmer(TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION))
# with each fit's Pearson chi-square, residual df and dispersion (sum of squared Pearson residuals / df.residual),
# the likelihood-ratio tests anova(region, nested, olre), and predictions for new counties.
# Writes tests/reference/counts_lme4.json.  The Python tests (tests/against_r/test_counts.py) never run R.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

if (!file.exists("data/mmmec.csv"))
  stop("run from the repository root: Rscript tests/r/counts_reference.R")
out_file <- "tests/reference/counts_lme4.json"

mmmec <- read.csv("data/mmmec.csv", colClasses = c(nation = "character", region = "character",
                                                  county = "character", deaths = "integer",
                                                  expected = "numeric", uvb = "numeric"))
mmmec$nation <- factor(mmmec$nation, levels = unique(mmmec$nation))
mmmec$region <- factor(mmmec$region, levels = unique(mmmec$region))
mmmec$county <- factor(mmmec$county, levels = unique(mmmec$county))
stopifnot(nrow(mmmec) == 354, nlevels(mmmec$region) == 78, nlevels(mmmec$nation) == 9)
# the same data as mlmRev's own copy
if (requireNamespace("mlmRev", quietly = TRUE)) {
  m <- mlmRev::Mmmec
  stopifnot(identical(m$deaths, mmmec$deaths), identical(m$expected, mmmec$expected), identical(m$uvb, mmmec$uvb),
            all(as.character(m$nation) == as.character(mmmec$nation)),
            all(as.character(m$region) == as.character(mmmec$region)),
            all(as.character(m$county) == as.character(mmmec$county)))
}

grouse <- read.csv("data/grouseticks.csv", colClasses = c(INDEX = "character", TICKS = "numeric",
                                                          BROOD = "character", HEIGHT = "numeric",
                                                          YEAR = "character", LOCATION = "character"))
grouse$INDEX <- factor(grouse$INDEX, levels = unique(grouse$INDEX))
grouse$BROOD <- factor(grouse$BROOD, levels = unique(grouse$BROOD))
grouse$LOCATION <- factor(grouse$LOCATION, levels = unique(grouse$LOCATION))
grouse$YEAR <- factor(grouse$YEAR, levels = c("95", "96", "97"))
stopifnot(nrow(grouse) == 403, nlevels(grouse$BROOD) == 118, nlevels(grouse$LOCATION) == 63)
local({
  g <- lme4::grouseticks
  stopifnot(identical(as.numeric(g$TICKS), grouse$TICKS), identical(as.numeric(g$HEIGHT), grouse$HEIGHT),
            all(as.character(g$BROOD) == as.character(grouse$BROOD)),
            all(as.character(g$LOCATION) == as.character(grouse$LOCATION)),
            all(as.character(g$YEAR) == as.character(grouse$YEAR)),
            all(as.character(g$INDEX) == as.character(grouse$INDEX)))
})

pearson <- function(fit) {
  r <- residuals(fit, type = "pearson")
  chisq <- sum(r^2)
  list(chisq = chisq, df_resid = df.residual(fit), dispersion = chisq / df.residual(fit))
}

describe <- function(fit, call) {
  vc <- as.data.frame(VarCorr(fit))
  conv <- fit@optinfo$conv$lme4$messages
  list(
    call = call,
    nAGQ = fit@devcomp$dims[["nAGQ"]],
    nobs = nobs(fit),
    minus2loglik = -2 * as.numeric(logLik(fit)),
    aic = AIC(fit), bic = BIC(fit),
    df = attr(logLik(fit), "df"),
    fixef = as.list(fixef(fit)),
    se = as.list(sqrt(diag(as.matrix(vcov(fit))))),
    theta = unname(getME(fit, "theta")),
    varcorr = list(grp = vc$grp, var1 = vc$var1, var2 = vc$var2, vcov = vc$vcov, sdcor = vc$sdcor),
    pearson = pearson(fit),
    deviance_residuals_sum = sum(residuals(fit, type = "deviance")^2),
    convergence_messages = I(if (is.null(conv)) character(0) else as.character(conv))
  )
}

describe_glm <- function(fit, call) {
  s <- summary(fit)
  list(
    call = call,
    family = family(fit)$family,
    nobs = nobs(fit),
    fixef = as.list(coef(fit)),
    se = as.list(s$coefficients[, 2]),
    dispersion = s$dispersion,
    deviance = deviance(fit),
    df_resid = df.residual(fit),
    minus2loglik = if (family(fit)$family == "poisson") -2 * as.numeric(logLik(fit)) else NULL,
    pearson = pearson(fit)
  )
}

fits <- list()
models <- list()
add <- function(name, expr) {
  call <- paste(deparse(substitute(expr), width.cutoff = 500L), collapse = " ")
  fit <- suppressWarnings(eval(substitute(expr)))
  fits[[name]] <<- if (inherits(fit, "glm")) describe_glm(fit, call) else describe(fit, call)
  models[[name]] <<- fit
  cat(sprintf("%-8s dispersion = %.6f\n", name, fits[[name]]$pearson$dispersion))
  invisible(fit)
}

add("glm", glm(deaths ~ uvb + offset(log(expected)), data = mmmec, family = poisson))
add("quasi", glm(deaths ~ uvb + offset(log(expected)), data = mmmec, family = quasipoisson))
add("region", glmer(deaths ~ uvb + offset(log(expected)) + (1 | region), data = mmmec, family = poisson))
add("agq10", glmer(deaths ~ uvb + offset(log(expected)) + (1 | region), data = mmmec, family = poisson,
                   nAGQ = 10))
add("agq25", glmer(deaths ~ uvb + offset(log(expected)) + (1 | region), data = mmmec, family = poisson,
                   nAGQ = 25))
add("nested", glmer(deaths ~ uvb + offset(log(expected)) + (1 | nation/region), data = mmmec, family = poisson))
add("olre", glmer(deaths ~ uvb + offset(log(expected)) + (1 | nation/region) + (1 | county), data = mmmec,
                  family = poisson))

add("grouse_pois", glmer(TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | LOCATION), data = grouse,
                         family = poisson))
add("grouse_olre", glmer(TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION),
                         data = grouse, family = poisson))
ag <- anova(models$grouse_pois, models$grouse_olre)
lrt_grouse <- list(npar = ag$npar, deviance = ag$deviance, chisq = ag$Chisq, df = ag$Df, p = ag[["Pr(>Chisq)"]])

# likelihood-ratio tests: region -> nation/region -> + county (the OLRE), as the chapter's anova()
a <- anova(models$region, models$nested, models$olre)
lrt <- list(npar = a$npar, deviance = a$deviance, chisq = a$Chisq, df = a$Df, p = a[["Pr(>Chisq)"]])

# predictions for three of the data's counties (rows 1, 100 and 200) with their expected count set to 100:
# conditional on all their random effects (nation, region, county) and in a typical region (re.form = NA)
newdata <- mmmec[c(1, 100, 200), c("nation", "region", "county", "uvb")]
newdata$expected <- 100
rownames(newdata) <- NULL
pred <- list(newdata = lapply(newdata, function(x) if (is.factor(x)) as.character(x) else x),
             population = unname(predict(models$olre, newdata, type = "response", re.form = NA)),
             conditional = unname(predict(models$olre, newdata, type = "response")),
             population_link = unname(predict(models$olre, newdata, type = "link", re.form = NA)))

out <- list(
  meta = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
              Matrix = as.character(packageVersion("Matrix")), date = as.character(Sys.Date()),
              data = "data/mmmec.csv", data_grouse = "data/grouseticks.csv"),
  fits = fits, lrt = lrt, lrt_grouse = lrt_grouse, predict = pred
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"), out_file)
cat("wrote", out_file, "\n")
