# R reference values for seed 001's six ways of comparing Catholic and Public
# schools (hlm_course/methods.py).
#
#   Rscript tests/r/monette_methods.R          (from the repository root)
#
# Reads OUR data/hs40.csv with the factor levels hlm_course/data.py sets,
# fits every method with base R, lme4 and nlme exactly as seed 001 does (the
# spida helpers up() and wald() are replaced by the few lines they amount
# to), and writes tests/reference/monette_methods.json.  Needs lme4, nlme
# and jsonlite.

suppressPackageStartupMessages({
  library(lme4)
  library(nlme)
  library(jsonlite)
})

if (!file.exists("data/hs40.csv"))
  stop("run from the repository root: Rscript tests/r/monette_methods.R")
out_file <- "tests/reference/monette_methods.json"

hs <- read.csv("data/hs40.csv", stringsAsFactors = FALSE)
hs$Sex      <- factor(hs$Sex, levels = c("Female", "Male"))
hs$Minority <- factor(hs$Minority, levels = c("No", "Yes"))
hs$Sector   <- factor(hs$Sector, levels = c("Catholic", "Public"))
hs$mean_ses <- ave(hs$ses, hs$school, FUN = mean)   # spida's cvar(ses, school)
hs$cses     <- hs$ses - hs$mean_ses                 # spida's dvar(ses, school)
stopifnot(nrow(hs) == 1977, length(unique(hs$school)) == 40)

coef_table <- function(est, se, df) {
  t <- est / se
  list(names = names(est), estimate = unname(est), se = unname(se), df = unname(df),
       t = unname(t), p = unname(2 * pt(abs(t), df, lower.tail = FALSE)))
}
# spida's wald(): per-row df = smallest df of the coefficients involved
wald_rows <- function(beta, V, df, L) {
  est <- drop(L %*% beta)
  se <- sqrt(diag(L %*% V %*% t(L)))
  dfs <- apply(L, 1, function(r) min(df[r != 0]))
  names(est) <- rownames(L)
  out <- coef_table(est, se, dfs)
  eta <- L %*% beta
  Fv <- drop(t(eta) %*% solve(L %*% V %*% t(L), eta)) / nrow(L)
  out$F <- list(numDF = nrow(L), denDF = min(df[colSums(abs(L)) != 0]), F = Fv,
                p = pf(Fv, nrow(L), min(df[colSums(abs(L)) != 0]), lower.tail = FALSE))
  out
}

# one row per school with its level-2 variables (spida's up(hs, ~ school))
sch <- hs[!duplicated(hs$school), c("school", "Sector")]
sch <- sch[order(sch$school), ]
cath <- sch$Sector == "Catholic"

res <- list(R_version = R.version.string, lme4_version = as.character(packageVersion("lme4")),
            nlme_version = as.character(packageVersion("nlme")))

# ---- 1. pooled OLS ---------------------------------------------------------
fit1 <- lm(mathach ~ ses * Sector, hs)
s1 <- summary(fit1)
res$pooled <- c(coef_table(coef(fit1), s1$coefficients[, 2], rep(fit1$df.residual, 4)),
                list(sigma = s1$sigma, r_squared = s1$r.squared, adj_r_squared = s1$adj.r.squared,
                     fstatistic = unname(s1$fstatistic[1])))

# ---- 2a. a line per school, equal-weight sector averages -------------------
fit2a <- lm(mathach ~ factor(school) / ses - 1, hs)
L <- rbind(Catholic = cath, Public = !cath) * 1
L <- L / rowSums(L)
L4 <- cbind(rbind(L, 0, 0), rbind(0, 0, L))
rownames(L4) <- c("Cath Int", "Pub Int", "Cath Slope", "Pub Slope")
diffmat <- rbind(Int = c(-1, 1, 0, 0), Slope = c(0, 0, -1, 1))
b2a <- coef(fit2a); V2a <- vcov(fit2a); df2a <- rep(fit2a$df.residual, length(b2a))
res$fixed_lines <- list(sector_means = wald_rows(b2a, V2a, df2a, L4),
                        difference = wald_rows(b2a, V2a, df2a, diffmat %*% L4),
                        sigma = summary(fit2a)$sigma)

# ---- 2b. school intercepts, common slope per sector ------------------------
fit2b <- lm(mathach ~ ses + factor(school) + ses:Sector, hs)
s2b <- summary(fit2b)$coefficients
keep <- c("ses", "ses:SectorPublic")
res$fixed_intercepts <- coef_table(s2b[keep, 1], s2b[keep, 2], rep(fit2b$df.residual, 2))

# ---- 3. two-stage: lmList, then a multivariate regression ------------------
lcoefs <- t(sapply(split(hs, hs$school), function(d) coef(lm(mathach ~ ses, d))))
lcoefs <- lcoefs[as.character(sch$school), ]
fit3 <- lm(lcoefs ~ Sector, sch)
s3 <- summary(fit3)
res$two_stage <- list(
  school_coefs = list(school = sch$school, intercept = unname(lcoefs[, 1]), slope = unname(lcoefs[, 2])),
  intercept_response = coef_table(s3[[1]]$coefficients[, 1], s3[[1]]$coefficients[, 2], rep(38, 2)),
  slope_response = coef_table(s3[[2]]$coefficients[, 1], s3[[2]]$coefficients[, 2], rep(38, 2)),
  manova = lapply(c(Pillai = "Pillai", Wilks = "Wilks", `Hotelling-Lawley` = "Hotelling-Lawley", Roy = "Roy"),
                  function(test) {
                    a <- summary(manova(lcoefs ~ Sector, sch), test = test)$stats
                    list(statistic = a["Sector", 2], approx_F = a["Sector", 3], num_df = a["Sector", 4],
                         den_df = a["Sector", 5], p = a["Sector", 6])
                  }),
  anova_mlm_pillai = {
    a <- anova(fit3)
    list(pillai = a["Sector", "Pillai"], approx_F = a["Sector", "approx F"], p = a["Sector", "Pr(>F)"])
  })

# the four MANOVA statistics when they differ (3 groups, 2 responses: s = 2),
# on a small deterministic data set the Python test rebuilds
i <- 1:30
g <- factor(rep(c("a", "b", "c"), each = 10))
Y <- cbind(sin(i) + c(0, 0.5, 0)[g], cos(0.7 * i) + c(0, 0, 0.8)[g])
res$manova_three_groups <- lapply(c(Pillai = "Pillai", Wilks = "Wilks", `Hotelling-Lawley` = "Hotelling-Lawley",
                                    Roy = "Roy"), function(test) {
  a <- summary(manova(Y ~ g), test = test)$stats
  list(statistic = a["g", 2], approx_F = a["g", 3], num_df = a["g", 4], den_df = a["g", 5], p = a["g", 6])
})

# ---- 4. between schools (ecological) ---------------------------------------
means <- aggregate(cbind(mathach, ses) ~ school, hs, mean)
means$Sector <- sch$Sector[match(means$school, sch$school)]
means$n <- as.vector(table(hs$school)[as.character(means$school)])
fit4 <- lm(mathach ~ ses, means)
fit4s <- lm(mathach ~ ses * Sector, means)
fit4w <- lm(mathach ~ ses * Sector, means, weights = n)
res$between <- list(seed = coef_table(coef(fit4), summary(fit4)$coefficients[, 2], rep(38, 2)),
                    sector = coef_table(coef(fit4s), summary(fit4s)$coefficients[, 2], rep(36, 4)),
                    sector_weighted = coef_table(coef(fit4w), summary(fit4w)$coefficients[, 2], rep(36, 4)))

# ---- 5, 6: HLMs with lme4 and nlme (REML) -----------------------------------
hlm_ref <- function(formula_lme4, fixed, random) {
  # Nelder-Mead: lme4's default BOBYQA stops with a (harmless) max|grad| 0.0027
  # convergence warning on model 5; both reach the same REML criterion.
  m4 <- lmer(as.formula(formula_lme4), hs, REML = TRUE, control = lmerControl(optimizer = "Nelder_Mead"))
  # nlme's default optimizer (nlminb); opt = "optim" stops short of the optimum here
  mn <- lme(fixed, hs, random = random, method = "REML")
  tt <- summary(mn)$tTable
  list(lme4 = list(names = names(fixef(m4)), estimate = unname(fixef(m4)),
                   se = unname(sqrt(diag(as.matrix(vcov(m4))))),
                   tau = unname(as.matrix(VarCorr(m4)[[1]])), sigma = sigma(m4),
                   reml_criterion = unname(REMLcrit(m4))),
       nlme = list(names = rownames(tt), estimate = unname(tt[, 1]), se = unname(tt[, 2]),
                   df = unname(tt[, 3]), t = unname(tt[, 4]), p = unname(tt[, 5]),
                   sigma = mn$sigma, loglik = as.numeric(logLik(mn))))
}
res$hlm <- hlm_ref("mathach ~ ses * Sector + (1 + ses | school)",
                   mathach ~ ses * Sector, ~ 1 + ses | school)
res$hlm_contextual <- hlm_ref("mathach ~ (mean_ses + cses) * Sector + (1 + cses | school)",
                              mathach ~ (mean_ses + cses) * Sector, ~ 1 + cses | school)

writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE), out_file)
cat("wrote", out_file, "\n")
