<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="fr">
  <context>
    <name>BaseAlgorithm</name>
    <message>
      <source>Building extractor</source>
      <translation>Extracteur de bâtiments</translation>
    </message>
    <message>
      <source>Extract buildings (U-Net)</source>
      <translation>Extraire les bâtiments (U-Net)</translation>
    </message>
    <message>
      <source>Extraction</source>
      <translation>Extraction</translation>
    </message>
    <message>
      <source>Image</source>
      <translation>Image</translation>
    </message>
    <message>
      <source>An RGB aerial, drone or satellite image: any raster layer QGIS shows, also XYZ and WMS/WMTS basemaps (then set Extent).</source>
      <translation>Une image RVB aérienne, de drone ou satellitaire : toute couche raster affichée par QGIS, y compris les fonds de carte XYZ et WMS/WMTS (indiquez alors l'emprise).</translation>
    </message>
    <message>
      <source>Extent</source>
      <translation>Emprise</translation>
    </message>
    <message>
      <source>Area to process. Empty: the whole layer. Required for XYZ tile layers.</source>
      <translation>Zone à traiter. Vide : toute la couche. Obligatoire pour les couches de tuiles XYZ.</translation>
    </message>
    <message>
      <source>Only inside polygons</source>
      <translation>Dans les polygones</translation>
    </message>
    <message>
      <source>Polygons (any CRS) to limit the run to: tiles outside them are neither read nor computed and no building is found outside them. Use it for a town boundary or a mask of built-up land.</source>
      <translation>Polygones (tout SCR) qui limitent le traitement : les tuiles hors de ces polygones ne sont ni lues ni calculées, et aucun bâtiment n'est trouvé en dehors. Pour une limite communale ou un masque de zones bâties.</translation>
    </message>
    <message>
      <source>Bands</source>
      <translation>Bandes</translation>
    </message>
    <message>
      <source>Red, green and blue bands. Empty: found by colour interpretation, else the first three.</source>
      <translation>Bandes rouge, verte et bleue. Vide : trouvées d'après l'interprétation des couleurs, sinon les trois premières.</translation>
    </message>
    <message>
      <source>Model file</source>
      <translation>Fichier du modèle</translation>
    </message>
    <message>
      <source>A .safetensors model written by Train model. Empty: the model shipped with the plugin. With another model, values left at their defaults below follow that model's own values.</source>
      <translation>Un modèle .safetensors écrit par Entraîner un modèle. Vide : le modèle fourni avec l'extension. Avec un autre modèle, les valeurs laissées par défaut ci-dessous suivent celles de ce modèle.</translation>
    </message>
    <message>
      <source>Model files (*.onnx *.safetensors);;ONNX (*.onnx);;safetensors (*.safetensors)</source>
      <translation>Fichiers de modèle (*.onnx *.safetensors);;ONNX (*.onnx);;safetensors (*.safetensors)</translation>
    </message>
    <message>
      <source>Resolution (m/px)</source>
      <translation>Résolution (m/px)</translation>
    </message>
    <message>
      <source>Ground resolution the image is read at. The default is the model's; 0 reads the image at its native pixel size.</source>
      <translation>Résolution au sol à laquelle l'image est lue. Par défaut celle du modèle ; 0 lit l'image à sa taille de pixel d'origine.</translation>
    </message>
    <message>
      <source>Device</source>
      <translation>Processeur</translation>
    </message>
    <message>
      <source>auto: the GPU when there is one, else the CPU. Only the devices found on this machine are listed.</source>
      <translation>auto : le GPU s'il y en a un, sinon le CPU. Seuls les processeurs présents sur cet ordinateur sont proposés.</translation>
    </message>
    <message>
      <source>Batch size</source>
      <translation>Taille de lot</translation>
    </message>
    <message>
      <source>Tiles per forward pass. More can be faster on a GPU and needs more memory.</source>
      <translation>Tuiles par passe du modèle. Davantage peut être plus rapide sur GPU et demande plus de mémoire.</translation>
    </message>
    <message>
      <source>Inference backend</source>
      <translation>Moteur d'inférence</translation>
    </message>
    <message>
      <source>auto: onnxruntime when it is installed and the model is ONNX (or has an ONNX twin beside it), else torch. onnxruntime is several times faster on CPU; torch also runs .safetensors files. The log says which backend and device ran, and why.</source>
      <translation>auto : onnxruntime s'il est installé et que le modèle est en ONNX (ou a un jumeau ONNX à côté), sinon torch. onnxruntime est plusieurs fois plus rapide sur CPU ; torch lit aussi les fichiers .safetensors. Le journal indique quel moteur et quel processeur ont servi, et pourquoi.</translation>
    </message>
    <message>
      <source>Tile size (px)</source>
      <translation>Taille de tuile (px)</translation>
    </message>
    <message>
      <source>Pixels per tile side; a multiple of the model's stride (32). The default is the model's.</source>
      <translation>Pixels par côté de tuile ; un multiple du pas du modèle (32). Par défaut celle du modèle.</translation>
    </message>
    <message>
      <source>Tile overlap (px)</source>
      <translation>Recouvrement (px)</translation>
    </message>
    <message>
      <source>Pixels shared by neighbouring tiles (below 1: a fraction of the tile). The default is the model's.</source>
      <translation>Pixels partagés par les tuiles voisines (sous 1 : une fraction de la tuile). Par défaut celui du modèle.</translation>
    </message>
    <message>
      <source>Test-time augmentation</source>
      <translation>Augmentation au test</translation>
    </message>
    <message>
      <source>Each tile also goes through the model flipped (4 passes) or flipped and turned by 90° (8 passes); the answers, turned back, are averaged. Slower by the number of passes.</source>
      <translation>Chaque tuile passe aussi dans le modèle retournée (4 passes) ou retournée et tournée de 90° (8 passes) ; les réponses, remises en place, sont moyennées. Plus lent d’autant de passes.</translation>
    </message>
    <message>
      <source>Building threshold</source>
      <translation>Seuil bâtiment</translation>
    </message>
    <message>
      <source>Pixels with a building probability above this are buildings. The default is the model's tuned value; lower it to find more buildings, raise it for fewer false ones.</source>
      <translation>Les pixels dont la probabilité de bâtiment dépasse ce seuil sont des bâtiments. Par défaut la valeur réglée du modèle ; baissez-le pour trouver plus de bâtiments, montez-le pour moins de faux.</translation>
    </message>
    <message>
      <source>Split threshold</source>
      <translation>Seuil de séparation</translation>
    </message>
    <message>
      <source>Touching buildings are split where a blob holds several cores above this probability. The default is the model's; 0 never splits.</source>
      <translation>Les bâtiments accolés sont séparés là où une tache contient plusieurs cœurs au-dessus de cette probabilité. Par défaut celui du modèle ; 0 ne sépare jamais.</translation>
    </message>
    <message>
      <source>Height model</source>
      <translation>Modèle de hauteur</translation>
    </message>
    <message>
      <source>Models with a height input only: the nDSM (height above ground, metres), or the DSM when a DTM is given. Any CRS and resolution: it is aligned on the processing grid on the fly.</source>
      <translation>Modèles avec une entrée de hauteur seulement : le MNS normalisé (hauteur au-dessus du sol, en mètres), ou le MNS quand un MNT est donné. Tout SCR et toute résolution : il est aligné à la volée sur la grille de traitement.</translation>
    </message>
    <message>
      <source>Terrain model (DTM)</source>
      <translation>Modèle de terrain (MNT)</translation>
    </message>
    <message>
      <source>With Height model as a DSM: the heights are DSM - DTM.</source>
      <translation>Avec un MNS comme modèle de hauteur : les hauteurs sont MNS - MNT.</translation>
    </message>
    <message>
      <source>Minimum area (m²)</source>
      <translation>Surface minimale (m²)</translation>
    </message>
    <message>
      <source>Smaller buildings are dropped.</source>
      <translation>Les bâtiments plus petits sont écartés.</translation>
    </message>
    <message>
      <source>Simplify (m)</source>
      <translation>Simplifier (m)</translation>
    </message>
    <message>
      <source>Outline simplification tolerance; 0 keeps every pixel step.</source>
      <translation>Tolérance de simplification des contours ; 0 garde chaque marche de pixel.</translation>
    </message>
    <message>
      <source>Fill holes below (m²)</source>
      <translation>Combler les trous sous (m²)</translation>
    </message>
    <message>
      <source>Holes smaller than this inside a building are filled.</source>
      <translation>Les trous plus petits à l'intérieur d'un bâtiment sont comblés.</translation>
    </message>
    <message>
      <source>Regularize</source>
      <translation>Régulariser</translation>
    </message>
    <message>
      <source>Straighten walls (LOD0 footprints): right_angles keeps right angles, none keeps the traced outline.</source>
      <translation>Redresser les murs (emprises LOD0) : right_angles garde des angles droits, none garde le contour tracé.</translation>
    </message>
    <message>
      <source>Largest web area (km²)</source>
      <translation>Surface web maximale (km²)</translation>
    </message>
    <message>
      <source>Web and other non-file layers are refused above this area (downloads take long).</source>
      <translation>Les couches web et autres couches non fichier sont refusées au-delà de cette surface (les téléchargements sont longs).</translation>
    </message>
    <message>
      <source>Dask scheduler</source>
      <translation>Ordonnanceur Dask</translation>
    </message>
    <message>
      <source>Address of a Dask scheduler (tcp://host:8786) to run the job on its cluster, partition by partition; the workers must reach INPUT and have building_extractor installed. Empty: run in QGIS.</source>
      <translation>Adresse d'un ordonnanceur Dask (tcp://hôte:8786) pour exécuter le travail sur sa grappe, partition par partition ; les workers doivent accéder à INPUT et avoir building_extractor installé. Vide : exécution dans QGIS.</translation>
    </message>
    <message>
      <source>Buildings</source>
      <translation>Bâtiments</translation>
    </message>
    <message>
      <source>One polygon per building with its confidence, area and perimeter.</source>
      <translation>Un polygone par bâtiment avec sa confiance, sa surface et son périmètre.</translation>
    </message>
    <message>
      <source>Probability raster</source>
      <translation>Raster de probabilité</translation>
    </message>
    <message>
      <source>Optional GeoTIFF of the building probability (0-255) at the processing resolution.</source>
      <translation>GeoTIFF facultatif de la probabilité de bâtiment (0-255) à la résolution de traitement.</translation>
    </message>
    <message>
      <source>Land cover raster</source>
      <translation>Raster d'occupation du sol</translation>
    </message>
    <message>
      <source>Land cover models only: GeoTIFF of each pixel's class value, paletted with the class names.</source>
      <translation>Modèles d'occupation du sol seulement : GeoTIFF de la classe de chaque pixel, en palette avec les noms des classes.</translation>
    </message>
    <message>
      <source>Land cover polygons</source>
      <translation>Polygones d'occupation du sol</translation>
    </message>
    <message>
      <source>Land cover models only: one polygon per class region with a class field, simplified like the buildings.</source>
      <translation>Modèles d'occupation du sol seulement : un polygone par zone de classe avec un champ de classe, simplifié comme les bâtiments.</translation>
    </message>
    <message>
      <source>Extract buildings (Mask R-CNN)</source>
      <translation>Extraire les bâtiments (Mask R-CNN)</translation>
    </message>
    <message>
      <source>Score threshold</source>
      <translation>Seuil de score</translation>
    </message>
    <message>
      <source>Detections scoring below this are dropped. The default is the model's tuned value; lower it to find more buildings, raise it for fewer false ones.</source>
      <translation>Les détections dont le score est inférieur sont écartées. Par défaut la valeur réglée du modèle ; baissez-le pour trouver plus de bâtiments, montez-le pour moins de faux.</translation>
    </message>
    <message>
      <source>Mask threshold</source>
      <translation>Seuil de masque</translation>
    </message>
    <message>
      <source>Mask probability above which a pixel belongs to the building. The default is the model's.</source>
      <translation>Probabilité de masque au-dessus de laquelle un pixel appartient au bâtiment. Par défaut celle du modèle.</translation>
    </message>
    <message>
      <source>Duplicate IoU</source>
      <translation>IoU des doublons</translation>
    </message>
    <message>
      <source>Of two buildings overlapping more than this (polygon IoU), the lower-scored one is dropped. The default is the model's.</source>
      <translation>De deux bâtiments qui se recouvrent davantage (IoU des polygones), celui au score le plus bas est écarté. Par défaut celle du modèle.</translation>
    </message>
    <message>
      <source>Train model</source>
      <translation>Entraîner un modèle</translation>
    </message>
    <message>
      <source>Training</source>
      <translation>Entraînement</translation>
    </message>
    <message>
      <source>Export model to ONNX</source>
      <translation>Exporter le modèle en ONNX</translation>
    </message>
    <message>
      <source>Evaluate buildings</source>
      <translation>Évaluer les bâtiments</translation>
    </message>
    <message>
      <source>Evaluation</source>
      <translation>Évaluation</translation>
    </message>
    <message>
      <source>Evaluate land cover</source>
      <translation>Évaluer l'occupation du sol</translation>
    </message>
    <message>
      <source>Regularize building footprints</source>
      <translation>Régulariser les emprises de bâtiments</translation>
    </message>
    <message>
      <source>Post-processing</source>
      <translation>Post-traitement</translation>
    </message>
    <message>
      <source>Building heights (LOD1)</source>
      <translation>Hauteurs des bâtiments (LOD1)</translation>
    </message>
    <message>
      <source>Install dependencies</source>
      <translation>Installer les dépendances</translation>
    </message>
    <message>
      <source>Setup</source>
      <translation>Installation</translation>
    </message>
    <message>
      <source>Diagnostics for bug reports</source>
      <translation>Diagnostic pour rapports de bogue</translation>
    </message>
    <message>
      <source>Report file</source>
      <translation>Fichier du rapport</translation>
    </message>
    <message>
      <source>Optional text file with the same report, to attach to a bug report.</source>
      <translation>Fichier texte facultatif avec le même rapport, à joindre à un rapport de bogue.</translation>
    </message>
    <message>
      <source>Text files (*.txt)</source>
      <translation>Fichiers texte (*.txt)</translation>
    </message>
    <message>
      <source>Report</source>
      <translation>Rapport</translation>
    </message>
  </context>
</TS>
