# Shared by the reference scripts in tests/r/ (run from the repository root).

# The full HSB file with the factor levels of hlm_course/data.py (the first
# level is the reference), the school SAMPLE mean of ses (seed 000's
# mean.ses) and group-centred ses.
read_hsb <- function(path = "data/hsb.csv") {
  hsb <- read.csv(path, stringsAsFactors = FALSE)
  hsb$minority <- factor(hsb$minority, levels = c("No", "Yes"))
  hsb$sex      <- factor(hsb$sex, levels = c("Female", "Male"))
  hsb$sector   <- factor(hsb$sector, levels = c("Public", "Catholic"))
  hsb$mean_ses <- ave(hsb$ses, hsb$school, FUN = mean)
  hsb$cses     <- hsb$ses - hsb$mean_ses
  stopifnot(nrow(hsb) == 7185, length(unique(hsb$school)) == 160)
  hsb
}

# The glmer data sets that tests/r/glmer_reference.R exported (tests/reference/glmer_*.csv), with the factors R
# fitted: lme4's cbpp, mlmRev's Contraception, lme4's grouseticks (used by glmer_profile_reference.R and
# benchmarks/glmer_profile_bench.R).
read_glmer_sets <- function(dir = "tests/reference") {
  rd <- function(name) read.csv(file.path(dir, paste0("glmer_", name, ".csv")), stringsAsFactors = FALSE)
  cbpp <- rd("cbpp")
  cbpp$herd <- factor(cbpp$herd, levels = as.character(1:15))
  cbpp$period <- factor(cbpp$period, levels = as.character(1:4))
  contra <- rd("contraception")
  contra$district <- factor(contra$district)
  contra$urban <- factor(contra$urban, levels = c("N", "Y"))
  contra$livch <- factor(contra$livch, levels = c("0", "1", "2", "3+"))
  contra$use <- factor(contra$use, levels = c("N", "Y"))
  grouse <- rd("grouseticks")
  grouse$YEAR <- factor(grouse$YEAR, levels = c("95", "96", "97"))
  for (v in c("BROOD", "INDEX", "LOCATION")) grouse[[v]] <- factor(grouse[[v]])
  list(cbpp = cbpp, contra = contra, grouse = grouse)
}
