# lme4 1.1-31's glmer on binary and count data: the reference for tests/against_r/test_glmer.py.
#
#   Rscript tests/r/glmer_reference.R        (from the repository root)
#
# Writes tests/reference/glmer_lme4.json and the data sets it fits as CSV
# (tests/reference/glmer_*.csv), so the Python tests read exactly the rows R saw.
# Every fit uses lme4's defaults (glmerControl(): stage 1 nAGQ = 0 by bobyqa,
# stage 2 Nelder_Mead) unless the model's entry says otherwise.
suppressPackageStartupMessages({
  library(lme4)
  library(mlmRev)
  library(jsonlite)
})

out_dir <- "tests/reference"

write_data <- function(df, name) {
  path <- file.path(out_dir, paste0("glmer_", name, ".csv"))
  write.csv(df, path, row.names = FALSE)
  path
}

# data sets, factors written as their labels
cbpp_d <- lme4::cbpp
cbpp_d$prop <- cbpp_d$incidence / cbpp_d$size
write_data(cbpp_d, "cbpp")

# a herd with no cases at all (every count zero): its conditional mode goes far below the others
cbpp_zero <- cbpp_d
cbpp_zero$incidence[cbpp_zero$herd == "1"] <- 0L
cbpp_zero$prop <- cbpp_zero$incidence / cbpp_zero$size
write_data(cbpp_zero, "cbpp_zero")

grouse <- lme4::grouseticks
write_data(grouse[, c("INDEX", "TICKS", "BROOD", "HEIGHT", "YEAR", "LOCATION", "cHEIGHT")], "grouseticks")

contra <- mlmRev::Contraception
write_data(contra[, c("woman", "district", "use", "livch", "age", "urban")], "contraception")

mmmec <- mlmRev::Mmmec
write_data(mmmec, "mmmec")

conv_messages <- function(fit) {
  m <- fit@optinfo$conv$lme4$messages
  w <- unlist(lapply(fit@optinfo$warnings, as.character))
  list(messages = I(if (is.null(m)) character(0) else as.character(m)),
       optimizer_warnings = I(if (is.null(w)) character(0) else w))
}

describe <- function(fit, call) {
  s <- summary(fit)
  v_hess <- tryCatch(as.matrix(vcov(fit)), error = function(e) NULL)
  v_rx <- tryCatch(as.matrix(suppressWarnings(vcov(fit, use.hessian = FALSE))), error = function(e) NULL)
  vc <- as.data.frame(VarCorr(fit))
  re <- ranef(fit, condVar = TRUE)
  re1 <- re[[1]]
  list(
    call = call,
    family = family(fit)$family, link = family(fit)$link,
    nAGQ = fit@devcomp$dims[["nAGQ"]],
    nobs = nobs(fit),
    ngrps = as.list(ngrps(fit)),
    minus2loglik = -2 * as.numeric(logLik(fit)),
    loglik = as.numeric(logLik(fit)),
    aic = AIC(fit), bic = BIC(fit),
    deviance_fn = deviance(fit),                # lme4's deviance(): see the Python docstring
    aictab = as.list(s$AICtab),
    df_resid = df.residual(fit),
    fixef = as.list(fixef(fit)),
    se = as.list(sqrt(diag(v_hess))),
    se_rx = as.list(sqrt(diag(v_rx))),
    vcov = unname(v_hess),
    theta = unname(getME(fit, "theta")),
    theta_names = names(getME(fit, "theta")),
    varcorr = list(grp = vc$grp, var1 = vc$var1, var2 = vc$var2, vcov = vc$vcov, sdcor = vc$sdcor),
    ranef_first = list(group = names(re)[1], levels = rownames(re1),
                       values = unname(as.matrix(re1)),
                       condvar = tryCatch(as.numeric(attr(re1, "postVar")), error = function(e) NULL)),
    convergence = conv_messages(fit),
    singular = isSingular(fit),
    fitted_head = unname(head(fitted(fit), 10)),
    coef_table = list(z = unname(s$coefficients[, 3]), p = unname(s$coefficients[, 4]))
  )
}

fits <- list()
add <- function(name, expr) {
  call <- paste(deparse(substitute(expr), width.cutoff = 500L), collapse = " ")
  warns <- character(0)
  fit <- withCallingHandlers(eval(substitute(expr)),
                             warning = function(w) { warns <<- c(warns, conditionMessage(w))
                                                     invokeRestart("muffleWarning") })
  d <- describe(fit, call)
  d$warnings <- I(warns)
  fits[[name]] <<- d
  cat(sprintf("%-28s -2logLik = %.6f\n", name, d$minus2loglik))
  invisible(fit)
}

# cbpp: Laplace, adaptive Gauss-Hermite with 25 points, nAGQ = 0
cb1 <- add("cbpp_laplace", glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp_d,
                                 family = binomial))
add("cbpp_agq25", glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp_d,
                        family = binomial, nAGQ = 25))
add("cbpp_agq0", glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp_d,
                       family = binomial, nAGQ = 0))
add("cbpp_agq9", glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp_d,
                       family = binomial, nAGQ = 9))
# proportion with weights: the same likelihood as cbind
add("cbpp_prop_weights", glmer(prop ~ period + (1 | herd), data = cbpp_d, family = binomial, weights = size))
add("cbpp_zero_herd", glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp_zero,
                            family = binomial))
# other links
add("cbpp_probit", glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp_d,
                         family = binomial(link = "probit")))
add("cbpp_cloglog", glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp_d,
                          family = binomial(link = "cloglog")))

# Contraception (mlmRev): binary response, a factor (N, Y)
add("contra_int", glmer(use ~ age + I(age^2) + urban + livch + (1 | district), data = contra,
                        family = binomial))
add("contra_agq10", glmer(use ~ age + I(age^2) + urban + livch + (1 | district), data = contra,
                          family = binomial, nAGQ = 10))
add("contra_slope", glmer(use ~ age + I(age^2) + urban + livch + (urban | district), data = contra,
                          family = binomial))
add("contra_probit", glmer(use ~ age + I(age^2) + urban + livch + (1 | district), data = contra,
                           family = binomial(link = "probit")))

# Poisson with an offset (mlmRev's Mmmec)
add("mmmec_offset", glmer(deaths ~ uvb + offset(log(expected)) + (1 | region), data = mmmec, family = poisson))
add("mmmec_offset_agq15", glmer(deaths ~ uvb + offset(log(expected)) + (1 | region), data = mmmec,
                                family = poisson, nAGQ = 15))
# Poisson with three grouping factors
add("grouse", glmer(TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION), data = grouse,
                    family = poisson))

# simulated data sets (written by tests/r/glmer_sim_data.py, seeded; kept as CSV): nested, crossed with a
# correlated random slope, an uncorrelated random slope with an exposure offset
nested <- read.csv(file.path(out_dir, "glmer_sim_nested.csv"))
nested$school <- factor(nested$school); nested$class <- factor(nested$class)
add("sim_nested", glmer(y ~ x + (1 | school/class), data = nested, family = binomial))
crossed <- read.csv(file.path(out_dir, "glmer_sim_crossed.csv"))
crossed$subj <- factor(crossed$subj); crossed$item <- factor(crossed$item)
add("sim_crossed", glmer(y ~ cond + (cond | subj) + (1 | item), data = crossed, family = binomial))
counts <- read.csv(file.path(out_dir, "glmer_sim_counts.csv"))
counts$g <- factor(counts$g)
add("sim_counts_uncorr", glmer(k ~ z + offset(log(t)) + (z || g), data = counts, family = poisson))

meta <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
             Matrix = as.character(packageVersion("Matrix")), mlmRev = as.character(packageVersion("mlmRev")),
             date = format(Sys.time(), "%Y-%m-%d"))
writeLines(toJSON(list(meta = meta, fits = fits), auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null",
                  na = "null"),
           file.path(out_dir, "glmer_lme4.json"))
cat("wrote", file.path(out_dir, "glmer_lme4.json"), "\n")
